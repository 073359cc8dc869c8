//! Task definitions: which container gets the image, and the new revision made from the
//! service's current one (or a file) with only that container's image changed. Every
//! field RegisterTaskDefinition takes is carried over; the read-only ones that
//! DescribeTaskDefinition adds are dropped. A file is read by the SDK's own parser (the
//! wire format of DescribeTaskDefinition is the file's), so no field is lost to a schema
//! of ours.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{Tag, TaskDefinition};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

use crate::target::DeployError;

/// The fields of a task definition that RegisterTaskDefinition takes (all copied).
pub const REGISTERED: [&str; 18] = [
    "family",
    "task_role_arn",
    "execution_role_arn",
    "network_mode",
    "container_definitions",
    "volumes",
    "placement_constraints",
    "requires_compatibilities",
    "cpu",
    "memory",
    "pid_mode",
    "ipc_mode",
    "proxy_configuration",
    "inference_accelerators",
    "ephemeral_storage",
    "runtime_platform",
    "enable_fault_injection",
    // Tags travel beside the definition (DescribeTaskDefinition's `tags`).
    "tags",
];

/// The fields ECS sets on a registered revision, which RegisterTaskDefinition refuses.
pub const READ_ONLY: [&str; 9] = [
    "task_definition_arn",
    "revision",
    "status",
    "requires_attributes",
    "compatibilities",
    "registered_at",
    "deregistered_at",
    "delete_requested_at",
    "registered_by",
];

/// The wire names of [`READ_ONLY`], removed from a file before it is parsed (the AWS
/// CLI prints their timestamps as text, which the wire format does not take).
const READ_ONLY_WIRE: [&str; 9] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "deregisteredAt",
    "deleteRequestedAt",
    "registeredBy",
];

/// A task definition and its tags: what a new revision starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub definition: TaskDefinition,
    pub tags: Vec<Tag>,
}

impl Source {
    /// `family:revision`.
    pub fn name(&self) -> String {
        family_revision(&self.definition)
    }

    /// The containers' names, in order.
    pub fn container_names(&self) -> Vec<&str> {
        self.definition.container_definitions().iter().filter_map(|c| c.name()).collect()
    }
}

/// `family:revision` of a registered definition.
pub fn family_revision(definition: &TaskDefinition) -> String {
    format!("{}:{}", definition.family().unwrap_or_default(), definition.revision())
}

/// `family:revision` from a task definition ARN (or the text itself when it is no ARN).
pub fn short_name(arn: &str) -> &str {
    arn.rsplit_once("task-definition/").map_or(arn, |(_, name)| name)
}

/// Parses a task definition file: DescribeTaskDefinition's output (`{"taskDefinition":
/// ..., "tags": [...]}`) or the definition alone (`aws ecs describe-task-definition
/// --query taskDefinition`, or RegisterTaskDefinition's input).
pub async fn parse_file(text: &str) -> Result<Source, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(mut top) = value else {
        return Err("it is not a JSON object".to_owned());
    };
    let (mut definition, tags) = match top.remove("taskDefinition") {
        Some(Value::Object(definition)) => (definition, top.remove("tags")),
        Some(_) => return Err("its taskDefinition is not an object".to_owned()),
        None => {
            let tags = top.remove("tags");
            (top, tags)
        }
    };
    for key in READ_ONLY_WIRE {
        definition.remove(key);
    }
    if !definition.get("family").is_some_and(Value::is_string) {
        return Err("it names no family".to_owned());
    }
    if definition.get("containerDefinitions").and_then(Value::as_array).is_none_or(|c| c.is_empty()) {
        return Err("it has no containerDefinitions".to_owned());
    }
    let mut body = serde_json::Map::new();
    body.insert("taskDefinition".to_owned(), Value::Object(definition));
    if let Some(tags) = tags {
        body.insert("tags".to_owned(), tags);
    }
    let output = parser(Value::Object(body).to_string())
        .describe_task_definition()
        .task_definition("file")
        .send()
        .await
        .map_err(|e| aws_sdk_ecs::error::DisplayErrorContext(e).to_string())?;
    let definition = output.task_definition().cloned().ok_or("it holds no task definition")?;
    Ok(Source { definition, tags: output.tags().to_vec() })
}

/// An ECS client whose every answer is `body`: the SDK's deserializer, used as a parser.
fn parser(body: String) -> Client {
    #[derive(Debug)]
    struct Canned(String);
    impl HttpConnector for Canned {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let response =
                HttpResponse::new(200u16.try_into().unwrap_or_else(|_| unreachable!()), SdkBody::from(self.0.clone()));
            HttpConnectorFuture::ready(Ok(response))
        }
    }
    let connector = SharedHttpConnector::new(Canned(body));
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_ecs::config::Credentials::new("file", "file", None, None, "file"))
        .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
        .http_client(http_client_fn(move |_, _| connector.clone()))
        .build();
    Client::from_conf(config)
}

/// The repository an image reference names, without tag or digest.
fn repository(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => image,
    }
}

/// The index of the container that gets `image`: `wanted` by name, else the one whose
/// image is in the same repository, else the only one. Anything else is exit 2.
pub fn choose_container(source: &Source, wanted: Option<&str>, image: &str) -> Result<usize, DeployError> {
    let containers = source.definition.container_definitions();
    let names = source.container_names().join(", ");
    let family = source.definition.family().unwrap_or_default();
    if let Some(wanted) = wanted {
        return containers.iter().position(|c| c.name() == Some(wanted)).ok_or_else(|| {
            DeployError::Usage(format!("task definition {family} has no container {wanted}; it has: {names}"))
        });
    }
    let same: Vec<usize> = containers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.image().is_some_and(|i| repository(i) == repository(image)))
        .map(|(index, _)| index)
        .collect();
    match (&same[..], containers.len()) {
        ([index], _) => Ok(*index),
        ([], 1) => Ok(0),
        ([], _) => Err(DeployError::Usage(format!(
            "task definition {family} has containers {names} and none runs an image of {}; say which with --container",
            repository(image)
        ))),
        (_, _) => Err(DeployError::Usage(format!(
            "task definition {family} has several containers running an image of {} ({}); say which with --container",
            repository(image),
            same.iter().filter_map(|&i| containers[i].name()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The new revision's definition: `source` with container `index`'s image set to `image`.
pub fn with_image(source: &Source, index: usize, image: &str) -> TaskDefinition {
    let mut definition = source.definition.clone();
    if let Some(container) = definition.container_definitions.as_mut().and_then(|c| c.get_mut(index)) {
        container.image = Some(image.to_owned());
    }
    definition
}

/// RegisterTaskDefinition with every field of `definition` it takes ([`REGISTERED`]).
#[allow(deprecated)] // Inference accelerators are retired, but a definition that has them keeps them.
pub fn register(
    request: RegisterTaskDefinitionFluentBuilder,
    definition: &TaskDefinition,
    tags: &[Tag],
) -> RegisterTaskDefinitionFluentBuilder {
    let definition = definition.clone();
    request
        .set_family(definition.family)
        .set_task_role_arn(definition.task_role_arn)
        .set_execution_role_arn(definition.execution_role_arn)
        .set_network_mode(definition.network_mode)
        .set_container_definitions(definition.container_definitions)
        .set_volumes(definition.volumes)
        .set_placement_constraints(definition.placement_constraints)
        .set_requires_compatibilities(definition.requires_compatibilities)
        .set_cpu(definition.cpu)
        .set_memory(definition.memory)
        .set_pid_mode(definition.pid_mode)
        .set_ipc_mode(definition.ipc_mode)
        .set_proxy_configuration(definition.proxy_configuration)
        .set_inference_accelerators(definition.inference_accelerators)
        .set_ephemeral_storage(definition.ephemeral_storage)
        .set_runtime_platform(definition.runtime_platform)
        .set_enable_fault_injection(definition.enable_fault_injection)
        .set_tags(if tags.is_empty() { None } else { Some(tags.to_vec()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The top-level field names of a type's derived Debug output.
    fn debug_fields(text: &str) -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with("    ") && !line.starts_with("     "))
            .filter_map(|line| line.trim().split_once(':').map(|(name, _)| name.to_owned()))
            .collect()
    }

    #[test]
    fn every_field_of_the_sdk_is_either_registered_or_read_only() {
        // A field the SDK adds to TaskDefinition fails here until it is sorted into one of
        // the lists (and copied by `register` when RegisterTaskDefinition takes it).
        let mut fields = debug_fields(&format!("{:#?}", TaskDefinition::builder().build()));
        fields.push("tags".to_owned());
        fields.sort();
        let mut known: Vec<String> = REGISTERED.iter().chain(READ_ONLY.iter()).map(|s| (*s).to_owned()).collect();
        known.sort();
        assert_eq!(fields, known);
        // And RegisterTaskDefinition takes exactly the registered ones.
        let client = parser(String::new());
        let mut input = debug_fields(&format!("{:#?}", client.register_task_definition().as_input()));
        input.sort();
        let mut registered: Vec<String> = REGISTERED.iter().map(|s| (*s).to_owned()).collect();
        registered.sort();
        assert_eq!(input, registered);
    }

    #[test]
    fn the_container_is_named_found_by_repository_or_the_only_one() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let file = |containers: &str| {
            runtime
                .block_on(parse_file(&format!(r#"{{"family": "shop", "containerDefinitions": [{containers}]}}"#)))
                .unwrap()
        };
        let image = "1.dkr.ecr.eu-west-1.amazonaws.com/shop@sha256:abc";
        let two = file(
            r#"{"name": "app", "image": "1.dkr.ecr.eu-west-1.amazonaws.com/shop:1.0"}, {"name": "envoy", "image": "public.ecr.aws/appmesh/envoy:v1"}"#,
        );
        assert_eq!(choose_container(&two, None, image), Ok(0));
        assert_eq!(choose_container(&two, Some("envoy"), image), Ok(1));
        assert_eq!(
            choose_container(&two, Some("web"), image),
            Err(DeployError::Usage("task definition shop has no container web; it has: app, envoy".into()))
        );
        let other = "ghcr.io/acme/other@sha256:abc";
        assert_eq!(
            choose_container(&two, None, other),
            Err(DeployError::Usage(
                "task definition shop has containers app, envoy and none runs an image of ghcr.io/acme/other; say which with --container".into()
            ))
        );
        let one = file(r#"{"name": "app", "image": "nginx"}"#);
        assert_eq!(choose_container(&one, None, other), Ok(0));
        let twins = file(
            r#"{"name": "a", "image": "localhost:5000/shop:1"}, {"name": "b", "image": "localhost:5000/shop@sha256:def"}"#,
        );
        let error = choose_container(&twins, None, "localhost:5000/shop@sha256:abc").unwrap_err();
        assert!(
            matches!(&error, DeployError::Usage(m) if m.contains("several containers") && m.contains("(a, b)")),
            "{error}"
        );
    }

    #[test]
    fn a_file_is_the_definition_alone_or_describe_output_and_read_only_fields_go() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let described = r#"{"taskDefinition": {"family": "shop", "revision": 7, "status": "ACTIVE",
            "registeredAt": "2026-11-30T10:00:00.000000+00:00", "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/shop:7",
            "containerDefinitions": [{"name": "app", "image": "x", "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:eu-west-1:1:parameter/db"}]}]},
            "tags": [{"key": "team", "value": "shop"}]}"#;
        let source = runtime.block_on(parse_file(described)).unwrap();
        assert_eq!(source.definition.family(), Some("shop"));
        assert_eq!(source.definition.revision(), 0, "the revision is ECS's to give");
        assert_eq!(source.definition.registered_at(), None);
        assert_eq!(
            source.definition.container_definitions()[0].secrets()[0].value_from(),
            "arn:aws:ssm:eu-west-1:1:parameter/db"
        );
        assert_eq!(source.tags[0].key(), Some("team"));
        for (text, why) in [
            ("[1]", "it is not a JSON object"),
            (r#"{"containerDefinitions": [{}]}"#, "it names no family"),
            (r#"{"family": "shop", "containerDefinitions": []}"#, "it has no containerDefinitions"),
        ] {
            assert_eq!(runtime.block_on(parse_file(text)).unwrap_err(), why);
        }
        let wrong_type = r#"{"family": "shop", "containerDefinitions": [{"name": "app", "memory": "lots"}]}"#;
        assert!(
            runtime.block_on(parse_file(wrong_type)).is_err(),
            "the SDK's parser refuses a field of the wrong type"
        );
        assert!(runtime.block_on(parse_file("{\"family\": ")).unwrap_err().contains("line 1"));
    }

    #[test]
    fn names_and_repositories() {
        assert_eq!(short_name("arn:aws:ecs:eu-west-1:1:task-definition/shop:7"), "shop:7");
        assert_eq!(short_name("shop:7"), "shop:7");
        assert_eq!(repository("localhost:5000/shop:1.0"), "localhost:5000/shop");
        assert_eq!(repository("localhost:5000/shop"), "localhost:5000/shop");
        assert_eq!(repository("ghcr.io/acme/shop@sha256:abc"), "ghcr.io/acme/shop");
    }
}
