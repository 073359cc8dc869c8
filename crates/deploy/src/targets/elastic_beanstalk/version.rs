//! Application versions: the Dockerrun.aws.json bundle naming the image by digest, in
//! S3, registered and processed; and which version ran before another.

use std::time::Instant;

use aws_sdk_elasticbeanstalk::types::S3Location;
use aws_sdk_s3::primitives::ByteStream;
use slipway_contract::Console;

use super::ElasticBeanstalk;
use super::environment::{aws_error, failed, is_throttling};
use crate::status::Status;
use crate::target::{DeployError, DeployRequest};

/// Whether the request's version label exists yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppVersion {
    /// Registered for this very image: reused.
    Exists,
    /// Not there: created from a new bundle.
    Missing,
}

/// The description slipway gives a version, which ties its label to its image.
fn description(image: &str) -> String {
    format!("slipway: {image}")
}

impl ElasticBeanstalk {
    /// Whether the request's label exists, refusing one taken by another image (exit 2).
    pub(super) async fn find_version(&self, request: &DeployRequest) -> Result<AppVersion, DeployError> {
        let label = &request.version_label;
        let existing = self
            .eb
            .describe_application_versions()
            .application_name(&self.settings.application)
            .version_labels(label)
            .send()
            .await
            .map_err(|e| failed(aws_error("DescribeApplicationVersions", &e), Status::Unchanged))?;
        match existing.application_versions().first() {
            None => Ok(AppVersion::Missing),
            Some(version) if version.description() == Some(description(&request.image).as_str()) => {
                Ok(AppVersion::Exists)
            }
            Some(version) => Err(DeployError::Usage(format!(
                "application version {label} already exists for another image ({}); give a new --version-label",
                version.description().unwrap_or("unknown")
            ))),
        }
    }

    /// Makes the request's version usable by `deadline`: created (bundle to S3, processed)
    /// when missing, waited for when it exists.
    pub(super) async fn ensure_version(
        &self,
        request: &DeployRequest,
        found: AppVersion,
        deadline: Instant,
        console: &Console,
    ) -> Result<(), DeployError> {
        let label = &request.version_label;
        if found == AppVersion::Exists {
            console.info(&format!("application version {label} exists for this image; reusing it"));
            return self.wait_processed(label, deadline).await;
        }
        let bucket = match &self.settings.bucket {
            Some(bucket) => bucket.clone(),
            None => self
                .eb
                .create_storage_location()
                .send()
                .await
                .map_err(|e| failed(aws_error("CreateStorageLocation", &e), Status::Unchanged))?
                .s3_bucket()
                .unwrap_or_default()
                .to_owned(),
        };
        let key = format!("{}/{label}/Dockerrun.aws.json", self.settings.application);
        let bundle = dockerrun(&request.image, request.port);
        self.s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(bundle.into_bytes()))
            .send()
            .await
            .map_err(|e| {
                failed(
                    format!(
                        "uploading the bundle to s3://{bucket}/{key} failed: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    ),
                    Status::Unchanged,
                )
            })?;
        console.info(&format!("bundle uploaded to s3://{bucket}/{key}"));
        let location = S3Location::builder().s3_bucket(&bucket).s3_key(&key).build();
        self.eb
            .create_application_version()
            .application_name(&self.settings.application)
            .version_label(label)
            .description(description(&request.image))
            .source_bundle(location)
            .process(true)
            .send()
            .await
            .map_err(|e| failed(aws_error("CreateApplicationVersion", &e), Status::Unchanged))?;
        self.wait_processed(label, deadline).await
    }

    /// Waits until the version is Processed; Failed is a failure.
    pub(super) async fn wait_processed(&self, label: &str, deadline: Instant) -> Result<(), DeployError> {
        loop {
            let output = self
                .eb
                .describe_application_versions()
                .application_name(&self.settings.application)
                .version_labels(label)
                .send()
                .await;
            let status = match output {
                Ok(output) => output
                    .application_versions()
                    .first()
                    .and_then(|v| v.status())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                Err(error) if is_throttling(&error) => String::new(),
                Err(error) => return Err(failed(aws_error("DescribeApplicationVersions", &error), Status::Unchanged)),
            };
            match status.as_str() {
                "Processed" => return Ok(()),
                "Failed" => {
                    return Err(failed(
                        format!(
                            "Elastic Beanstalk could not process application version {label} (its Dockerrun.aws.json)"
                        ),
                        Status::Unchanged,
                    ));
                }
                _ if Instant::now() >= deadline => {
                    return Err(failed(
                        format!(
                            "application version {label} was not processed by the deadline (--timeout); nothing was deployed"
                        ),
                        Status::Unchanged,
                    ));
                }
                _ => tokio::time::sleep(self.settings.poll_interval).await,
            }
        }
    }

    /// The newest processed version older than `current`: what ran before it.
    pub(super) async fn version_before(&self, current: &str) -> Result<String, DeployError> {
        let output = self
            .eb
            .describe_application_versions()
            .application_name(&self.settings.application)
            .send()
            .await
            .map_err(|e| failed(aws_error("DescribeApplicationVersions", &e), Status::Unchanged))?;
        let mut versions: Vec<_> = output
            .application_versions()
            .iter()
            .filter(|v| v.status().is_some_and(|s| s.as_str() == "Processed"))
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.date_created().map(|d| d.secs()).unwrap_or(0)));
        let position = versions.iter().position(|v| v.version_label() == Some(current));
        position
            .and_then(|p| versions.get(p + 1))
            .or_else(|| versions.iter().find(|v| v.version_label() != Some(current)))
            .and_then(|v| v.version_label())
            .map(str::to_owned)
            .ok_or_else(|| {
                DeployError::Usage(format!(
                    "no earlier version than {current} to roll back to; name one with --version-label"
                ))
            })
    }
}

/// The Dockerrun.aws.json v1 bundle: the image by digest and the container port.
pub fn dockerrun(image: &str, port: u16) -> String {
    serde_json::json!({
        "AWSEBDockerrunVersion": "1",
        "Image": {"Name": image, "Update": "true"},
        "Ports": [{"ContainerPort": port}],
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerrun_names_the_image_by_digest_and_the_port() {
        let image = format!("1234.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:{}", "a".repeat(64));
        let bundle: serde_json::Value = serde_json::from_str(&dockerrun(&image, 8080)).unwrap();
        assert_eq!(bundle["AWSEBDockerrunVersion"], "1");
        assert_eq!(bundle["Image"]["Name"], image);
        assert_eq!(bundle["Ports"][0]["ContainerPort"], 8080);
    }
}
