//! A canary on Kubernetes: a second Deployment `<name>-canary` running the new image
//! beside the main one, its pods labelled `slipway.dev/track: canary` as well as with the
//! app's name, so the app's Service sends them their share of requests: traffic is
//! weighted by pods. At a step of p% the canary runs round(main x p / (100 - p)) pods (at
//! least 1) beside the main Deployment's, whose pods and template stay untouched; with
//! few pods the share is coarse, and the log says what it is. The Service
//! `<name>-canary` selects the canary alone, for verify and the analysis.
//!
//! Without analysis flags deploy stops once the canary is ready at its last step
//! (`status=canary`); `--promote` rolls the main Deployment to the canary's image as a
//! rolling deploy does (undone on failure) and removes the canary; `--reject` removes it.
//! With them, [`TrafficShift`] lets the shared step loop judge each step: 100% is the
//! main Deployment rolled to the new image (the final watch), an abort removes the canary
//! and, after that, puts the main Deployment's previous revision back.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use slipway_contract::{Console, interrupt};

use super::client::Stage;
use super::manifests::{Kind, Manifests, canary_name, canary_replicas, canary_share, digest_of, route};
use super::{KubeState, Kubernetes, ROLLBACK_BUDGET, WaitEnd, version_of};
use crate::analysis::{ProbeTarget, TrafficShift, retiring_failed, run_canary, timeline_details};
use crate::status::Status;
use crate::target::{DeployError, DeployOutcome, DeployRequest, Phase, Plan};

impl Kubernetes {
    /// Where the canary's Service answers this runner: `--preview-url`, else its address
    /// inside the cluster.
    fn canary_url(&self) -> String {
        self.settings.preview_url.clone().unwrap_or_else(|| {
            format!("http://{}.{}.svc.cluster.local", canary_name(&self.settings), self.settings.ns())
        })
    }

    /// A canary runs beside the main Deployment (without one, the new version is simply
    /// deployed); an unfinished canary is replaced.
    pub(super) async fn plan_canary(
        &self,
        request: &DeployRequest,
        deadline: Instant,
    ) -> Result<Plan<KubeState>, DeployError> {
        let (name, ns) = (&self.settings.name, self.settings.ns());
        let Some(live) = self.get_deployment(deadline, Stage::BeforeChange).await? else {
            // Nothing serves the app yet: there is no traffic to shift, as on every target.
            let plan = self.plan_deploy(request, deadline).await?;
            return Ok(plan.now(format!(
                "nothing serves {name} yet: the new version takes all traffic at once, unjudged (a canary needs a live Deployment beside it)"
            )));
        };
        // A canary beside a blue-green app's colours is refused, as a rolling deployment is.
        let others = self.others(deadline).await?;
        self.refuse_over(&others, "a --strategy canary deployment", true)?;
        let canary = canary_name(&self.settings);
        let previous = version_of(&live);
        let main = main_pods(&live);
        let steps = request.rollout.steps_or_default();
        let first = steps.first().copied().unwrap_or(10);
        let replicas = canary_replicas(main, first);
        let manifests =
            Manifests::canary(&self.settings, &request.image, &request.version_label, &self.trace, replicas, first);
        let mut outcome = self.outcome(&live, &request.version_label, &previous, Status::Planned);
        outcome.url = self.canary_url();
        outcome.health = "unknown".to_owned();
        let mut plan = Plan::new(outcome, ()).now(format!(
            "Deployment {ns}/{name} runs {previous} on {main} pod(s) (revision {})",
            super::rollout::revision(&live.metadata).unwrap_or(0)
        ));
        if let Some(existing) = &others.canary {
            plan = plan.now(format!("an unfinished canary {canary} runs {existing}; it is replaced"));
        }
        for object in manifests.objects.iter().filter(|o| o.kind != Kind::HttpRoute) {
            plan = plan.step(format!("apply {} {} (server-side)", object.kind.as_str(), object.name));
        }
        plan = plan.step(format!(
            "wait until its {replicas} pod(s) run {} and are ready{}; else explain and remove the canary",
            digest_of(&request.image).unwrap_or(&request.image),
            if self.settings.gateway.is_some() {
                String::new()
            } else {
                format!(" (about {}% of the traffic)", canary_share(main, replicas))
            }
        ));
        if self.settings.gateway.is_some() {
            plan = plan
                .step(format!("apply HTTPRoute {name}: {first}% of the requests to {canary} by its backends' weights"));
        }
        let later: Vec<String> = steps.iter().skip(1).map(|p| format!("{p}%")).collect();
        plan = match &request.analysis {
            Some(analysis) => plan
                .step(format!(
                    "judge each step ({}) for {} at {}: {}; abort on a crossed gate (the canary removed)",
                    steps.iter().map(|p| format!("{p}%")).collect::<Vec<_>>().join(", "),
                    humantime::format_duration(request.rollout.bake_or_default()),
                    self.canary_url(),
                    analysis.describe()
                ))
                .step(format!(
                    "then roll {name} to {}{} and remove the canary",
                    request.version_label,
                    if request.rollout.bake.is_some() { ", watch it once more (undone on a crossed gate)" } else { "" }
                )),
            None if later.is_empty() => plan.step("stop: finish with --promote or --reject"),
            None => plan.step(format!(
                "every {}, scale it to the next step ({}); then stop: finish with --promote or --reject",
                humantime::format_duration(request.rollout.bake_or_default()),
                later.join(", ")
            )),
        };
        if request.dry_run {
            for object in &manifests.objects {
                self.apply_object(object, true, deadline).await?;
            }
        }
        Ok(plan.with_state(KubeState::Canary { manifests, live: Box::new(live) }))
    }

    /// Starts the canary at its first step, then walks or judges its steps.
    pub(super) async fn apply_canary(
        &self,
        manifests: &Manifests,
        live: &Deployment,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let previous = version_of(live);
        let steps = request.rollout.steps_or_default();
        let mut shift = KubeCanary::new(self, request, live);
        let first = steps.first().copied().unwrap_or(10);
        if let Err(why) = shift.apply_canary(manifests, first, deadline, console).await {
            let cleanup = Instant::now() + ROLLBACK_BUDGET.min(request.timeout);
            let detail = self.explain(cleanup).await;
            let (status, tail) = match shift.remove_canary(cleanup, console).await {
                Ok(()) => (
                    Status::Unchanged,
                    format!("the canary was removed; {} runs {previous} as before", self.settings.name),
                ),
                Err(error) => (Status::Unknown, format!("and removing the canary failed: {error}")),
            };
            return Err(DeployError::Failed {
                message: format!("the canary {} of {} failed: {why}; {tail}", shift.name, request.version_label),
                status,
                detail,
            });
        }
        shift.percent = steps.first().copied().unwrap_or(10);
        if let Some(analysis) = &request.analysis {
            let judged = run_canary(&mut shift, request, analysis, deadline, console).await?;
            let main = self.get_deployment(deadline, Stage::AfterChange).await?.unwrap_or_default();
            let mut outcome = self.outcome(&main, &request.version_label, &previous, Status::Promoted);
            outcome.details.extend(timeline_details(&judged.records, steps.len()));
            return Ok(outcome);
        }
        let bake = request.rollout.bake_or_default();
        for (index, percent) in steps.iter().copied().enumerate().skip(1) {
            let before = steps[index - 1];
            if Instant::now() + bake >= deadline {
                return Err(DeployError::failed(
                    format!(
                        "--timeout ends before the canary's step to {percent}%: it stays at {before}%; finish it with --promote or --reject"
                    ),
                    Status::Canary,
                ));
            }
            console.info(&format!("baking at {before}% for {}", humantime::format_duration(bake)));
            interrupt::sleep(bake).await.map_err(|interrupted| {
                DeployError::failed(
                    format!("{interrupted} while baking at {before}%: the canary stays at {before}%; finish it with --promote or --reject"),
                    Status::Canary,
                )
            })?;
            shift.set_weight(percent, deadline, console).await.map_err(|error| {
                DeployError::failed(
                    format!("the canary's step to {percent}% failed: {error}; finish it with --promote or --reject"),
                    Status::Canary,
                )
            })?;
        }
        let canary = self.get_deployment_named(&shift.name, deadline, Stage::AfterChange).await?.unwrap_or_default();
        let mut outcome = self.outcome(&canary, &request.version_label, &previous, Status::Canary);
        outcome.url = self.canary_url();
        outcome.deployment_id = format!(
            "{}/{}{}",
            self.settings.ns(),
            shift.name,
            super::rollout::revision(&canary.metadata).map(|r| format!("@{r}")).unwrap_or_default()
        );
        console.info(&format!(
            "the canary {} ({}) takes {}{}% of {}'s traffic and answers at {}; finish with --promote or --reject",
            shift.name,
            request.version_label,
            if self.settings.gateway.is_some() { "" } else { "about " },
            shift.share(shift.canary_pods, shift.percent),
            self.settings.name,
            outcome.url
        ));
        Ok(outcome)
    }

    /// `--promote` and `--reject` of a canary: it must be there.
    pub(super) async fn plan_finish_canary(
        &self,
        request: &DeployRequest,
        deadline: Instant,
    ) -> Result<Plan<KubeState>, DeployError> {
        let (name, ns) = (&self.settings.name, self.settings.ns());
        let canary_name = canary_name(&self.settings);
        let canary =
            self.get_deployment_named(&canary_name, deadline, Stage::BeforeChange).await?.ok_or_else(|| {
                DeployError::Usage(format!(
                    "there is no canary {canary_name} in namespace {ns} to {} (deploy one with --strategy canary)",
                    request.phase.as_str()
                ))
            })?;
        let image = image_of(&canary);
        let label = version_of(&canary);
        if !request.image.is_empty() && request.image != image {
            return Err(DeployError::Usage(format!(
                "--image {} is not the canary's image {image}; --{} acts on the canary that runs",
                request.image,
                request.phase.as_str()
            )));
        }
        let live = self.get_deployment(deadline, Stage::BeforeChange).await?;
        let current = live.as_ref().map(version_of).unwrap_or_default();
        let now = format!("the canary {canary_name} runs {label} beside {name}, which runs {current}");
        if request.phase == Phase::Reject {
            let outcome =
                self.outcome(live.as_ref().unwrap_or(&Deployment::default()), &current, &label, Status::Planned);
            let plan = Plan::new(outcome, ())
                .now(now)
                .step(format!("delete Deployment {canary_name} and Service {canary_name}"));
            return Ok(plan.with_state(KubeState::RejectCanary { live: live.map(Box::new), canary: Box::new(canary) }));
        }
        // Without --run-as, the canary's pods' user (its image's) as it was applied.
        let mut manifests = Manifests::build(&self.settings_of(&canary), &image, &label, &self.trace);
        // The Secret's values are read on a deployment only: applying it here without them
        // would empty it. The canary's deployment applied it already.
        manifests.objects.retain(|object| object.kind != Kind::Secret);
        let mut plan = Plan::new(
            self.outcome(live.as_ref().unwrap_or(&Deployment::default()), &label, &current, Status::Planned),
            (),
        )
        .now(now);
        for object in &manifests.objects {
            plan = plan.step(format!("apply {} {} (server-side)", object.kind.as_str(), object.name));
        }
        plan = plan
            .step(format!("wait until every pod of {name} runs {label} and is available; else roll back to {current}"))
            .step(format!("delete Deployment {canary_name} and Service {canary_name}"));
        if request.dry_run {
            for object in &manifests.objects {
                self.apply_object(object, true, deadline).await?;
            }
        }
        Ok(plan.with_state(KubeState::PromoteCanary { manifests, live: live.map(Box::new), canary: Box::new(canary) }))
    }

    /// `--promote`: the main Deployment rolls to the canary's image (undone on failure,
    /// the canary left running), then the canary goes.
    pub(super) async fn promote_canary(
        &self,
        manifests: &Manifests,
        live: Option<Deployment>,
        canary: &Deployment,
        request: &DeployRequest,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        let promoted = DeployRequest { image: image_of(canary), version_label: version_of(canary), ..request.clone() };
        let canary_name = canary_name(&self.settings);
        let mut outcome =
            self.apply_deploy(manifests, live, &promoted, deadline, console).await.map_err(|error| match error {
                DeployError::Failed { message, status, detail } => DeployError::Failed {
                    message: format!("{message}; the canary {canary_name} still runs beside it (--reject removes it)"),
                    status,
                    detail,
                },
                usage => usage,
            })?;
        let cleanup = Instant::now() + ROLLBACK_BUDGET.min(request.timeout).max(Duration::from_secs(30));
        self.remove_canary_objects(cleanup, console).await.map_err(|error| {
            DeployError::failed(
                format!(
                    "{} runs {} now, but removing the canary failed: {error}",
                    self.settings.name, promoted.version_label
                ),
                Status::Promoted,
            )
        })?;
        outcome.status = Status::Promoted;
        Ok(outcome)
    }

    /// `--reject`: the canary goes; the main Deployment was never touched.
    pub(super) async fn reject_canary(
        &self,
        live: Option<&Deployment>,
        canary: &Deployment,
        deadline: Instant,
        console: &Console,
    ) -> Result<DeployOutcome, DeployError> {
        self.remove_canary_objects(deadline, console).await?;
        let current = live.map(version_of).unwrap_or_default();
        Ok(self.outcome(live.unwrap_or(&Deployment::default()), &current, &version_of(canary), Status::Rejected))
    }

    /// Deletes the canary's Deployment (waiting until its pods are gone) and Service;
    /// behind a Gateway, the route sends every request to the app's Service first.
    async fn remove_canary_objects(&self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        let name = canary_name(&self.settings);
        if self.settings.gateway.is_some() {
            let route = route(&self.settings, None);
            console.info(&format!("applying HTTPRoute {}: every request to {}", route.name, self.settings.name));
            self.apply_object(&route, false, deadline).await?;
        }
        console.info(&format!("deleting the canary {name} (Deployment and Service)"));
        self.delete(Kind::Deployment, &name, deadline).await?;
        self.delete(Kind::Service, &name, deadline).await?;
        Ok(())
    }
}

/// The main Deployment's pods, as it asks for them.
fn main_pods(live: &Deployment) -> u32 {
    live.spec.replicas.and_then(|r| u32::try_from(r).ok()).unwrap_or(1)
}

/// The image a Deployment's (first) container runs.
pub(super) fn image_of(deployment: &Deployment) -> String {
    deployment
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|spec| spec.containers.first())
        .and_then(|container| container.image.clone())
        .unwrap_or_default()
}

/// One run's canary, as the step loop moves it.
struct KubeCanary<'a> {
    target: &'a Kubernetes,
    request: &'a DeployRequest,
    /// `<name>-canary`.
    name: String,
    /// The main Deployment's pods (untouched until 100%).
    main_pods: u32,
    canary_pods: u32,
    /// The main Deployment's revision before this run, to put back after 100%.
    main_revision: Option<i64>,
    /// The main Deployment was rolled to the new image (the final watch).
    main_moved: bool,
    percent: u8,
}

impl<'a> KubeCanary<'a> {
    fn new(target: &'a Kubernetes, request: &'a DeployRequest, live: &Deployment) -> Self {
        Self {
            target,
            request,
            name: canary_name(&target.settings),
            main_pods: main_pods(live),
            canary_pods: 0,
            main_revision: super::rollout::revision(&live.metadata),
            main_moved: false,
            percent: 0,
        }
    }

    /// The share of the requests `replicas` canary pods take at `percent`: the route's
    /// weight behind a Gateway, else their share of all the app's pods.
    fn share(&self, replicas: u32, percent: u8) -> u32 {
        if self.target.settings.gateway.is_some() { u32::from(percent) } else { canary_share(self.main_pods, replicas) }
    }

    /// Applies the canary's objects and waits until its pods are ready on the digest;
    /// then, behind a Gateway, the route's weights for `percent`.
    async fn apply_canary(
        &mut self,
        manifests: &Manifests,
        percent: u8,
        deadline: Instant,
        console: &Console,
    ) -> Result<(), String> {
        let mut generation = 0;
        for object in manifests.objects.iter().filter(|o| o.kind != Kind::HttpRoute) {
            console.info(&format!("applying {} {}", object.kind.as_str(), object.name));
            if let Some(applied) = self.target.apply_object(object, false, deadline).await.map_err(|e| e.to_string())? {
                generation = applied.metadata.generation.unwrap_or(0);
            }
        }
        let replicas = manifests
            .objects
            .iter()
            .find(|o| o.kind == Kind::Deployment)
            .and_then(|o| o.body["spec"]["replicas"].as_u64())
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(1);
        let digest = digest_of(&self.request.image);
        match self.target.wait_rollout_of(&self.name, generation, digest, deadline, console).await {
            Ok(_) => self.canary_pods = replicas,
            Err(end) => return Err(wait_words(end)),
        }
        // The route's weights move only once the canary is ready to take its share.
        for object in manifests.objects.iter().filter(|o| o.kind == Kind::HttpRoute) {
            console.info(&format!("applying HTTPRoute {}: {percent}% of the requests to {}", object.name, self.name));
            self.target.apply_object(object, false, deadline).await.map_err(|e| e.to_string())?;
        }
        console.info(&format!(
            "the canary {} runs {replicas} pod(s) beside {} of {}: {}{}% of the traffic",
            self.name,
            self.main_pods,
            self.target.settings.name,
            if self.target.settings.gateway.is_some() { "" } else { "about " },
            self.share(replicas, percent)
        ));
        Ok(())
    }

    async fn remove_canary(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        self.target.remove_canary_objects(deadline, console).await?;
        self.canary_pods = 0;
        Ok(())
    }
}

/// How a wait ended, in words.
fn wait_words(end: WaitEnd) -> String {
    match end {
        WaitEnd::Failed(why) => why,
        WaitEnd::TimedOut(last) => format!("it was not ready by --timeout ({last})"),
        WaitEnd::Lost(error) => error.to_string(),
    }
}

impl TrafficShift for KubeCanary<'_> {
    fn probe_target(&self) -> ProbeTarget {
        ProbeTarget {
            url: self.target.canary_url(),
            check: self.target.settings.check.clone(),
            headers: Vec::new(),
            tls: None,
        }
    }

    async fn set_weight(&mut self, percent: u8, deadline: Instant, console: &Console) -> Result<(), String> {
        if percent == self.percent {
            return Ok(());
        }
        let (settings, request) = (&self.target.settings, self.request);
        if percent >= 100 {
            // All traffic: the main Deployment rolls to the new image; the canary stays
            // until the promotion, and an abort puts the previous revision back.
            let manifests = Manifests::build(settings, &request.image, &request.version_label, &self.target.trace);
            let mut generation = 0;
            self.main_moved = true;
            for object in &manifests.objects {
                console.info(&format!("applying {} {}", object.kind.as_str(), object.name));
                if let Some(applied) =
                    self.target.apply_object(object, false, deadline).await.map_err(|e| e.to_string())?
                {
                    generation = applied.metadata.generation.unwrap_or(0);
                }
            }
            self.target.wait_rollout(generation, digest_of(&request.image), deadline, console).await.map_err(
                |end| format!("{} did not roll to {}: {}", settings.name, request.version_label, wait_words(end)),
            )?;
            self.percent = 100;
            console.info(&format!("{} runs {}: it takes all traffic", settings.name, request.version_label));
            return Ok(());
        }
        let replicas = canary_replicas(self.main_pods, percent);
        let manifests =
            Manifests::canary(settings, &request.image, &request.version_label, &self.target.trace, replicas, percent);
        if replicas == self.canary_pods && settings.gateway.is_none() {
            console.info(&format!(
                "step {percent}%: the canary keeps {replicas} pod(s), about {}% of the traffic (pods weigh it)",
                canary_share(self.main_pods, replicas)
            ));
        }
        self.apply_canary(&manifests, percent, deadline, console).await?;
        self.percent = percent;
        Ok(())
    }

    async fn abort(&mut self, _deadline: Instant, console: &Console) -> Result<(), String> {
        // Putting things back gets its own time: the run's deadline may be what ended it.
        let deadline = Instant::now() + ROLLBACK_BUDGET.min(self.request.timeout).max(Duration::from_secs(30));
        self.remove_canary(deadline, console).await.map_err(|e| e.to_string())?;
        if self.main_moved {
            let set = self.target.set_of_revision(self.main_revision, deadline).await.map_err(|e| e.to_string())?;
            self.target.undo_to_previous(set, deadline, console).await.map_err(|e| e.to_string())?;
            self.main_moved = false;
        }
        self.percent = 0;
        Ok(())
    }

    async fn promote(&mut self, deadline: Instant, console: &Console) -> Result<(), DeployError> {
        let deadline = deadline.max(Instant::now() + Duration::from_secs(30));
        self.remove_canary(deadline, console).await.map_err(retiring_failed)
    }
}
