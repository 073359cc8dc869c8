//! Blue-green on Kubernetes: two Deployments, `<name>-blue` and `<name>-green`, their
//! pods labelled `slipway.dev/color`; the app's Service `<name>` selects the live colour.
//! A deployment brings the other colour up with the new image, with the preview Service
//! `<name>-preview` selecting it alone so verify can judge it (`status=green-ready`, the
//! url the preview's); `--promote` switches the app's Service to it (server-side apply)
//! and scales the old colour to 0 pods (kept, at its template); `--reject` deletes the
//! new colour's Deployment and the preview. The first blue-green deployment is blue, and
//! the app's Service is made on its promotion.
//!
//! With analysis flags the switch is judged ([`run_blue_green`]): the new colour through
//! the preview for the bake (a crossed gate deletes it, the Service never moved), then
//! the Service switched and watched for the bake again (a crossed gate switches it back
//! and deletes the new colour); passed, the old colour scales to 0 as on --promote. A
//! first deployment has nothing to switch from: it takes the Service at once, unjudged.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::json;
use slipway_contract::Console;

use super::client::Stage;
use super::manifests::{
    CHANGE_CAUSE_ANNOTATION, CI_RUN_ANNOTATION, COLOR_LABEL, Colour, GIT_SHA_ANNOTATION, Kind, Manifests, Trace,
    Workload, deployment, digest_of, live_service, preview_name,
};
use super::{KubeState, Kubernetes, Others, ROLLBACK_BUDGET, version_of};
use crate::analysis::{ProbeTarget, TrafficShift, retiring_failed, run_blue_green, timeline_details};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan};

impl Kubernetes {
    /// Where the preview Service answers this runner: `--preview-url`, else its address
    /// inside the cluster.
    fn preview_url(&self) -> String {
        self.settings.preview_url.clone().unwrap_or_else(|| {
            format!("http://{}.{}.svc.cluster.local", preview_name(&self.settings), self.settings.ns())
        })
    }

    /// The colour a Service selects: `Ok(None)` without a Service; an error for a
    /// Service that selects no colour (the app runs as one Deployment).
    fn selected_colour(&self, service: Option<&Service>) -> Result<Option<Colour>, DeployError> {
        let Some(service) = service else { return Ok(None) };
        let name = service.metadata.name.as_deref().unwrap_or_default();
        let selector = service.spec.as_ref().and_then(|spec| spec.selector.as_ref());
        match selector.and_then(|s| s.get(COLOR_LABEL)) {
            Some(colour) => Colour::parse(colour).map(Some).ok_or_else(|| {
                DeployError::Usage(format!("the Service {name} selects the colour `{colour}`, neither blue nor green"))
            }),
            None => Err(DeployError::Usage(format!(
                "the Service {name} in namespace {} selects every pod of the app (it was deployed with another strategy): blue-green switches it between the Deployments {} and {}, and starting here would send live traffic to the new version before --promote; keep --strategy rolling or canary for this app, or deploy blue-green under another --name",
                self.settings.ns(),
                Colour::Blue.deployment_name(&self.settings),
                Colour::Green.deployment_name(&self.settings)
            ))),
        }
    }

    /// The live colour and its Deployment, if any.
    async fn live_colour(&self, deadline: Instant) -> Result<Option<(Colour, Option<Deployment>)>, DeployError> {
        let service = self.get_service(&self.settings.name, deadline, Stage::BeforeChange).await?;
        match self.selected_colour(service.as_ref())? {
            None => Ok(None),
            Some(colour) => {
                let name = colour.deployment_name(&self.settings);
                Ok(Some((colour, self.get_deployment_named(&name, deadline, Stage::BeforeChange).await?)))
            }
        }
    }

    pub(super) async fn plan_blue_green(
        &self,
        request: &DeployRequest,
        deadline: Instant,
    ) -> Result<Plan<KubeState>, DeployError> {
        let (name, ns) = (&self.settings.name, self.settings.ns());
        let live = self.live_colour(deadline).await?;
        let new = live.as_ref().map_or(Colour::Blue, |(colour, _)| colour.other());
        let live_deployment = live.as_ref().and_then(|(_, d)| d.clone());
        let previous = live_deployment.as_ref().map(version_of).unwrap_or_default();
        let manifests = Manifests::blue_green(&self.settings, &request.image, &request.version_label, &self.trace, new);
        let new_name = new.deployment_name(&self.settings);
        let mut outcome = self.outcome(
            live_deployment.as_ref().unwrap_or(&Deployment::default()),
            &request.version_label,
            &previous,
            Status::Planned,
        );
        outcome.url = self.preview_url();
        outcome.health = "unknown".to_owned();
        let mut plan = Plan::new(outcome, ());
        plan = match &live {
            Some((colour, _)) => plan.now(format!(
                "the Service {ns}/{name} selects {colour} ({}), which runs {previous}",
                colour.deployment_name(&self.settings),
                colour = colour.as_str()
            )),
            None => plan.now(format!("no Service {name} in namespace {ns}: a first blue-green deployment (blue)")),
        };
        for object in &manifests.objects {
            plan = plan.step(format!("apply {} {} (server-side)", object.kind.as_str(), object.name));
        }
        plan = plan.step(format!(
            "wait until every pod of {new_name} runs {} and is available; else explain and delete it",
            digest_of(&request.image).unwrap_or(&request.image)
        ));
        let bake = humantime::format_duration(request.rollout.bake_or_default());
        plan = match (&request.analysis, &live) {
            (Some(analysis), Some((colour, _))) => plan
                .step(format!(
                    "judge it for {bake} at {}: {}; on a crossed gate delete it (the Service {name} stays on {})",
                    self.preview_url(),
                    analysis.describe(),
                    colour.as_str()
                ))
                .step(format!(
                    "switch the Service {name} to {} and watch it for {bake} more; on a crossed gate switch back to {} and delete it, else scale {} to 0 pods",
                    new.as_str(),
                    colour.as_str(),
                    colour.deployment_name(&self.settings)
                )),
            (Some(_), None) => plan.step(format!(
                "nothing serves {name} yet: switch the Service {name} to {} at once, unjudged",
                new.as_str()
            )),
            (None, _) => plan.step(format!(
                "stop: {} previews it; --promote switches the Service {name} to {}, --reject deletes it",
                preview_name(&self.settings),
                new.as_str()
            )),
        };
        if request.dry_run {
            for object in &manifests.objects {
                if object.kind != Kind::Namespace && self.settings.create_namespace {
                    continue;
                }
                self.apply_object(object, true, deadline).await?;
            }
        }
        let live = live.and_then(|(colour, deployment)| deployment.map(|d| (colour, Box::new(d))));
        Ok(plan.with_state(KubeState::BlueGreen { manifests, new, live }))
    }

    pub(super) async fn apply_blue_green(
        &self,
        manifests: &Manifests,
        new: Colour,
        live: Option<(Colour, Box<Deployment>)>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let previous = live.as_ref().map(|(_, d)| version_of(d)).unwrap_or_default();
        let new_name = new.deployment_name(&self.settings);
        let mut generation = 0;
        for object in &manifests.objects {
            console.info(&format!("applying {} {}", object.kind.as_str(), object.name));
            if let Some(applied) = self.apply_object(object, false, deadline).await? {
                generation = applied.metadata.generation.unwrap_or(0);
            }
        }
        let why = match self.wait_rollout_of(&new_name, generation, digest_of(&request.image), deadline, console).await
        {
            Ok(deployment) if request.analysis.is_some() => {
                return self.judge_switch(new, deployment, live, request, deadline, console).await;
            }
            Ok(deployment) => {
                let mut outcome = self.outcome(&deployment, &request.version_label, &previous, Status::GreenReady);
                outcome.url = self.preview_url();
                outcome.deployment_id = colour_id(self.settings.ns(), &new_name, &deployment);
                console.info(&format!(
                    "{new_name} runs {} and answers at {}; the live version keeps all traffic: --promote or --reject",
                    request.version_label, outcome.url
                ));
                return Ok(outcome);
            }
            Err(super::WaitEnd::Lost(error)) => return Err(error),
            Err(super::WaitEnd::Failed(why)) => why,
            Err(super::WaitEnd::TimedOut(last)) => format!("it was not ready by --timeout ({last})"),
        };
        let cleanup = Instant::now() + ROLLBACK_BUDGET.min(request.timeout);
        let detail = self.explain(cleanup).await;
        let removed = self.remove_preview(&new_name, cleanup, console).await;
        let (status, tail) = match (removed, &live) {
            (Ok(()), Some((colour, _))) => (
                Status::Unchanged,
                format!(
                    "it was deleted; the Service {} still selects {} ({previous})",
                    self.settings.name,
                    colour.as_str()
                ),
            ),
            (Ok(()), None) => (Status::Failed, "it was deleted; nothing served the app before".to_owned()),
            (Err(error), _) => (Status::Unknown, format!("and deleting it failed: {error}")),
        };
        Err(DeployError::Failed {
            message: format!("the new colour {new_name} of {} failed: {why}; {tail}", request.version_label),
            status,
            detail,
        })
    }

    /// The new colour, ready, judged before and after the switch (a first deployment
    /// is switched to at once).
    async fn judge_switch(
        &self,
        new: Colour,
        ready: Deployment,
        live: Option<(Colour, Box<Deployment>)>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let new_name = new.deployment_name(&self.settings);
        let (Some(analysis), Some((old, old_deployment))) = (&request.analysis, live) else {
            console.info(&format!(
                "nothing serves {} yet: {new_name} takes the Service at once, unjudged",
                self.settings.name
            ));
            let mut outcome = self.promote_colour((new, Box::new(ready)), None, deadline, console).await?;
            outcome.status = Status::Deployed;
            return Ok(outcome);
        };
        let previous = version_of(&old_deployment);
        let mut switch = KubeSwitch { target: self, request, new, old, old_deployment, switched: false };
        let judged = run_blue_green(&mut switch, request, analysis, deadline, console).await?;
        let mut outcome = self.outcome(&ready, &request.version_label, &previous, Status::Promoted);
        outcome.deployment_id = colour_id(self.settings.ns(), &new_name, &ready);
        outcome.details.extend(timeline_details(&judged.records, 0));
        Ok(outcome)
    }

    /// `--promote` and `--reject`: the preview Service names the colour waiting.
    pub(super) async fn plan_finish_blue_green(
        &self,
        request: &DeployRequest,
        deadline: Instant,
    ) -> Result<Plan<KubeState>, DeployError> {
        let (name, ns) = (&self.settings.name, self.settings.ns());
        let preview = preview_name(&self.settings);
        let waiting = self.get_service(&preview, deadline, Stage::BeforeChange).await?.ok_or_else(|| {
            DeployError::Usage(format!(
                "no blue-green deployment waits to {}: there is no preview Service {preview} in namespace {ns} (deploy with --strategy blue-green first)",
                request.phase.as_str()
            ))
        })?;
        let new = self.selected_colour(Some(&waiting))?.unwrap_or(Colour::Blue);
        let live = self.live_colour(deadline).await?;
        if live.as_ref().is_some_and(|(colour, _)| *colour == new) {
            return Err(DeployError::Usage(format!(
                "the Service {name} already selects {} (the preview's colour): nothing to {}",
                new.as_str(),
                request.phase.as_str()
            )));
        }
        let new_name = new.deployment_name(&self.settings);
        let new_deployment =
            self.get_deployment_named(&new_name, deadline, Stage::BeforeChange).await?.ok_or_else(|| {
                DeployError::Usage(format!("the preview {preview} selects {new_name}, which is not there"))
            })?;
        let label = version_of(&new_deployment);
        let live = live.and_then(|(colour, deployment)| deployment.map(|d| (colour, Box::new(d))));
        let current = live.as_ref().map(|(_, d)| version_of(d)).unwrap_or_default();
        let now = format!(
            "{new_name} runs {label} behind {preview}; the Service {name} selects {}",
            live.as_ref().map_or("nothing yet".to_owned(), |(c, _)| format!("{} ({current})", c.as_str()))
        );
        let new = (new, Box::new(new_deployment));
        if request.phase == Phase::Reject {
            let outcome = self.outcome(
                live.as_ref().map_or(&Deployment::default(), |(_, d)| d),
                &current,
                &label,
                Status::Planned,
            );
            let plan =
                Plan::new(outcome, ()).now(now).step(format!("delete Deployment {new_name} and Service {preview}"));
            return Ok(plan.with_state(KubeState::RejectColour { new, live }));
        }
        let mut plan = Plan::new(self.outcome(&new.1, &label, &current, Status::Planned), ())
            .now(now)
            .step(format!("check that every pod of {new_name} is available"))
            .step(format!("apply Service {name} selecting {} (server-side)", new.0.as_str()));
        if let Some((old, _)) = &live {
            plan =
                plan.step(format!("scale {} to 0 pods (kept for a switch back)", old.deployment_name(&self.settings)));
        }
        plan = plan.step(format!("delete Service {preview}"));
        if request.dry_run {
            self.apply_object(&live_service(&self.settings, new.0), true, deadline).await?;
        }
        Ok(plan.with_state(KubeState::PromoteColour { new, old: live }))
    }

    /// `--promote`: the app's Service selects the new colour; the old one scales to 0.
    pub(super) async fn promote_colour(
        &self,
        (new, deployment): (Colour, Box<Deployment>),
        old: Option<(Colour, Box<Deployment>)>,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let new_name = new.deployment_name(&self.settings);
        let label = version_of(&deployment);
        let previous = old.as_ref().map(|(_, d)| version_of(d)).unwrap_or_default();
        let generation = deployment.metadata.generation.unwrap_or(0);
        let digest = digest_of(&super::canary::image_of(&deployment)).map(str::to_owned);
        // Ready now, or it does not take the traffic.
        let ready_by = deadline.min(Instant::now() + Duration::from_secs(60));
        let ready =
            self.wait_rollout_of(&new_name, generation, digest.as_deref(), ready_by, console).await.map_err(|end| {
                let why = match end {
                    super::WaitEnd::Failed(why) => why,
                    super::WaitEnd::TimedOut(last) => format!("not ready ({last})"),
                    super::WaitEnd::Lost(error) => error.to_string(),
                };
                DeployError::failed(
                    format!(
                        "{new_name} cannot take the traffic: {why}; the Service {} was not switched",
                        self.settings.name
                    ),
                    Status::Unchanged,
                )
            })?;
        console.info(&format!("switching the Service {} to {} ({label})", self.settings.name, new.as_str()));
        self.apply_object(&live_service(&self.settings, new), false, deadline).await?;
        let mut outcome = self.outcome(&ready, &label, &previous, Status::Promoted);
        outcome.deployment_id = colour_id(self.settings.ns(), &new_name, &ready);
        let mut warnings = Vec::new();
        if let Some((old, live)) = &old {
            let scaled = self.scaled_to_zero(*old, live);
            console.info(&format!("scaling {} ({previous}) to 0 pods", scaled.name));
            if let Err(error) = self.apply_object(&scaled, false, deadline).await {
                warnings.push(format!("{} was not scaled down: {error}", scaled.name));
            }
        }
        if let Err(error) = self.delete(Kind::Service, &preview_name(&self.settings), deadline).await {
            warnings.push(format!("the preview Service was not deleted: {error}"));
        }
        for warning in &warnings {
            console.warning(warning);
        }
        if !warnings.is_empty() {
            return Err(DeployError::failed(
                format!(
                    "the Service {} selects {new_name} ({label}) now, but {}",
                    self.settings.name,
                    warnings.join("; ")
                ),
                Status::Promoted,
            ));
        }
        Ok(outcome)
    }

    /// The old colour's Deployment as slipway applied it, at 0 pods.
    fn scaled_to_zero(&self, colour: Colour, live: &Deployment) -> super::manifests::Object {
        self.colour_at(colour, live, Some(0))
    }

    /// A colour's Deployment as slipway applied it (its image, version and trace from
    /// the live object), at `replicas` pods (`None`: --replicas): the same field
    /// manager's whole object, so no field changes hands.
    fn colour_at(&self, colour: Colour, live: &Deployment, replicas: Option<u32>) -> super::manifests::Object {
        let annotations = live.metadata.annotations.clone().unwrap_or_default();
        let trace = Trace {
            git_sha: annotations.get(GIT_SHA_ANNOTATION).cloned(),
            ci_run_url: annotations.get(CI_RUN_ANNOTATION).cloned(),
        };
        let image = super::canary::image_of(live);
        let settings = self.settings_of(live);
        let mut object = deployment(&settings, &image, &version_of(live), &trace, Workload::Colour(colour));
        if let Some(replicas) = replicas {
            object.body["spec"]["replicas"] = json!(replicas);
        }
        if let Some(cause) = annotations.get(CHANGE_CAUSE_ANNOTATION) {
            object.body["metadata"]["annotations"][CHANGE_CAUSE_ANNOTATION] = json!(cause);
        }
        object
    }

    /// `--reject`: the new colour's Deployment and the preview go; the live colour serves on.
    pub(super) async fn reject_colour(
        &self,
        (_, deployment): (Colour, Box<Deployment>),
        live: Option<(Colour, Box<Deployment>)>,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        self.remove_preview(&name, deadline, console).await?;
        let current = live.as_ref().map(|(_, d)| version_of(d)).unwrap_or_default();
        let base = live.as_ref().map_or(Deployment::default(), |(_, d)| (**d).clone());
        Ok(self.outcome(&base, &current, &version_of(&deployment), Status::Rejected))
    }

    /// Deletes the colour Deployment `name` (waiting for its pods) and the preview Service.
    async fn remove_preview(&self, name: &str, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        let preview = preview_name(&self.settings);
        console.info(&format!("deleting Deployment {name} and Service {preview}"));
        self.delete(Kind::Deployment, name, deadline).await?;
        self.delete(Kind::Service, &preview, deadline).await?;
        Ok(())
    }
}

impl Kubernetes {
    /// `--rollback` of a blue-green app: the colour the Service does not select, kept at
    /// 0 pods at its template since the last promotion, is the previous version.
    pub(super) async fn plan_rollback_colour(
        &self,
        request: &DeployRequest,
        live: Colour,
        others: &Others,
        deadline: Instant,
    ) -> Result<Plan<KubeState>, DeployError> {
        let (name, ns) = (&self.settings.name, self.settings.ns());
        let back = live.other();
        let (live_name, back_name) = (live.deployment_name(&self.settings), back.deployment_name(&self.settings));
        if others.preview {
            return Err(DeployError::Usage(format!(
                "{back_name} waits behind the preview Service {} with a version not promoted yet, so no earlier version is kept: finish it with --strategy blue-green --reject (the Service {name} selects {} all along)",
                preview_name(&self.settings),
                live.as_str()
            )));
        }
        let previous = self.get_deployment_named(&back_name, deadline, Stage::BeforeChange).await?.ok_or_else(|| {
            DeployError::Usage(format!(
                "there is no previous colour to roll back to: no Deployment {back_name} in namespace {ns} (the Service {name} selects {}, the first blue-green deployment)",
                live.as_str()
            ))
        })?;
        let label = version_of(&previous);
        if !request.version_label.is_empty() && request.version_label != label {
            return Err(DeployError::Usage(format!(
                "{back_name} keeps {label}, not {}: blue-green rolls back to the previous colour's version only",
                request.version_label
            )));
        }
        let current_deployment = self.get_deployment_named(&live_name, deadline, Stage::BeforeChange).await?;
        let current = current_deployment.as_ref().map(version_of).unwrap_or_default();
        let image = super::canary::image_of(&previous);
        let mut outcome = self.outcome(&previous, &label, &current, Status::Planned);
        outcome.deployment_id = colour_id(ns, &back_name, &previous);
        let plan = Plan::new(outcome, ())
            .now(format!(
                "the Service {ns}/{name} selects {} ({live_name}, {current}); {back_name} keeps {label}",
                live.as_str()
            ))
            .step(format!(
                "apply Deployment {back_name} at {} pod(s) (server-side) and wait until every pod runs {} and is available; else scale it back to 0, the Service untouched",
                self.settings.replicas,
                digest_of(&image).unwrap_or(&image)
            ))
            .step(format!("apply Service {name} selecting {} (server-side)", back.as_str()))
            .step(format!("scale {live_name} to 0 pods (kept for a switch back)"));
        if request.dry_run {
            self.apply_object(&self.colour_at(back, &previous, None), true, deadline).await?;
            self.apply_object(&live_service(&self.settings, back), true, deadline).await?;
        }
        let from = current_deployment.map(|d| (live, Box::new(d)));
        Ok(plan.with_state(KubeState::RollbackColour { to: (back, Box::new(previous)), from }))
    }

    /// Scales the previous colour up, waits for it, switches the Service to it and
    /// scales the live one down: a promotion backwards.
    pub(super) async fn rollback_colour(
        &self,
        (back, previous): (Colour, Box<Deployment>),
        from: Option<(Colour, Box<Deployment>)>,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let name = &self.settings.name;
        let back_name = back.deployment_name(&self.settings);
        let label = version_of(&previous);
        let current = from.as_ref().map(|(_, d)| version_of(d)).unwrap_or_default();
        console.info(&format!("scaling {back_name} ({label}) to {} pod(s)", self.settings.replicas));
        let generation = self
            .apply_object(&self.colour_at(back, &previous, None), false, deadline)
            .await?
            .and_then(|d| d.metadata.generation)
            .unwrap_or(0);
        let digest = digest_of(&super::canary::image_of(&previous)).map(str::to_owned);
        let ready = match self.wait_rollout_of(&back_name, generation, digest.as_deref(), deadline, console).await {
            Ok(ready) => ready,
            Err(super::WaitEnd::Lost(error)) => return Err(error),
            Err(end) => {
                let why = match end {
                    super::WaitEnd::Failed(why) => why,
                    super::WaitEnd::TimedOut(last) => format!("it was not ready by --timeout ({last})"),
                    super::WaitEnd::Lost(_) => String::new(),
                };
                let cleanup = Instant::now() + ROLLBACK_BUDGET.min(request.timeout);
                let detail = self.explain(cleanup).await;
                let tail = match self.apply_object(&self.scaled_to_zero(back, &previous), false, cleanup).await {
                    Ok(_) => "it is scaled to 0 pods again".to_owned(),
                    Err(error) => format!("scaling it to 0 pods again failed: {error}"),
                };
                return Err(DeployError::Failed {
                    message: format!(
                        "{back_name} ({label}) did not come back: {why}; the Service {name} still selects {current}, {tail}"
                    ),
                    status: Status::Unchanged,
                    detail,
                });
            }
        };
        console.info(&format!("switching the Service {name} back to {} ({label})", back.as_str()));
        self.apply_object(&live_service(&self.settings, back), false, deadline).await?;
        let mut outcome = self.outcome(&ready, &label, &current, Status::RolledBack);
        outcome.deployment_id = colour_id(self.settings.ns(), &back_name, &ready);
        if let Some((colour, live)) = &from {
            let scaled = self.scaled_to_zero(*colour, live);
            console.info(&format!("scaling {} ({current}) to 0 pods", scaled.name));
            if let Err(error) = self.apply_object(&scaled, false, deadline).await {
                console.warning(&format!("{} was not scaled down: {error}", scaled.name));
                return Err(DeployError::failed(
                    format!(
                        "the Service {name} selects {back_name} ({label}) again, but {} was not scaled down: {error}",
                        scaled.name
                    ),
                    Status::RolledBack,
                ));
            }
        }
        Ok(outcome)
    }
}

/// One run's blue-green switch, as the analysis loop moves it: weight 0 is the new
/// colour previewed, 100 the Service switched to it.
struct KubeSwitch<'a> {
    target: &'a Kubernetes,
    request: &'a DeployRequest,
    new: Colour,
    old: Colour,
    old_deployment: Box<Deployment>,
    /// The Service selects the new colour.
    switched: bool,
}

impl KubeSwitch<'_> {
    async fn select(&self, colour: Colour, deadline: Instant, console: &Console) -> Result<(), String> {
        let name = &self.target.settings.name;
        console.info(&format!("switching the Service {name} to {}", colour.as_str()));
        self.target
            .apply_object(&live_service(&self.target.settings, colour), false, deadline)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl TrafficShift for KubeSwitch<'_> {
    fn probe_target(&self) -> ProbeTarget {
        // The preview Service selects the new colour alone, before the switch and after.
        ProbeTarget {
            url: self.target.preview_url(),
            check: self.target.settings.check.clone(),
            headers: Vec::new(),
            tls: None,
        }
    }

    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String> {
        let switch = percent >= 100;
        if switch != self.switched {
            self.select(if switch { self.new } else { self.old }, deadline, console).await?;
            self.switched = switch;
        }
        Ok(())
    }

    async fn abort(&mut self, _deadline: Instant, console: &Console) -> Result<(), String> {
        // Putting things back gets its own time: the run's deadline may be what ended it.
        let deadline = Instant::now() + ROLLBACK_BUDGET.min(self.request.timeout).max(Duration::from_secs(30));
        if self.switched {
            self.select(self.old, deadline, console).await?;
            self.switched = false;
        }
        let name = self.new.deployment_name(&self.target.settings);
        self.target.remove_preview(&name, deadline, console).await.map_err(|e| e.to_string())
    }

    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        let deadline = deadline.max(Instant::now() + Duration::from_secs(30));
        let scaled = self.target.scaled_to_zero(self.old, &self.old_deployment);
        console.info(&format!("scaling {} ({}) to 0 pods", scaled.name, version_of(&self.old_deployment)));
        self.target
            .apply_object(&scaled, false, deadline)
            .await
            .map_err(|e| retiring_failed(format!("{} was not scaled down: {e}", scaled.name)))?;
        self.target
            .delete(Kind::Service, &preview_name(&self.target.settings), deadline)
            .await
            .map(|_| ())
            .map_err(|e| retiring_failed(format!("the preview Service was not deleted: {e}")))
    }
}

/// `namespace/<name>-<colour>@revision`.
fn colour_id(namespace: &str, name: &str, deployment: &Deployment) -> String {
    let revision = super::rollout::revision(&deployment.metadata).map(|r| format!("@{r}")).unwrap_or_default();
    format!("{namespace}/{name}{revision}")
}
