//! `[[credential.trigger]]`: the pipelines, classic releases and workflows that keyrot starts
//! once every copy of the credential holds the new value.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::names::{
    is_plain_name, read_devops_project, read_name_or_id, read_repository, read_string_map,
    refuse_foreign, required, span, DevOpsOrganization, NameOrId, NameOrIdText, Repository,
};
use super::source::{Source, Subject};

/// A run keyrot starts after the credential is propagated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerTarget {
    /// `to = "azure-devops-pipeline"`: a new run of a YAML pipeline.
    Pipeline {
        organization: DevOpsOrganization,
        project: String,
        pipeline: NameOrId,
        /// The branch to run; the pipeline's default branch when absent.
        branch: Option<String>,
        /// Runtime parameters (the pipeline must declare them).
        parameters: BTreeMap<String, String>,
    },
    /// `to = "azure-devops-release"`: a new release of a classic release definition (a
    /// redeploy would reuse the variable values captured when the old release was created).
    Release {
        organization: DevOpsOrganization,
        project: String,
        definition: NameOrId,
    },
    /// `to = "github-workflow"`: a `workflow_dispatch` of a workflow.
    Workflow {
        repository: Repository,
        /// The workflow's file name (`deploy.yml`) or numeric id.
        workflow: NameOrId,
        /// The branch or tag to run on.
        git_ref: String,
        /// Workflow inputs (the workflow must declare them).
        inputs: BTreeMap<String, String>,
    },
}

impl TriggerTarget {
    /// The `to` value of this kind of target.
    pub fn kind(&self) -> &'static str {
        match self {
            TriggerTarget::Pipeline { .. } => PIPELINE,
            TriggerTarget::Release { .. } => RELEASE,
            TriggerTarget::Workflow { .. } => WORKFLOW,
        }
    }
}

impl TriggerTarget {
    /// What makes two triggers the same run to start: a run keyrot starts once per keyrot run
    /// however many credentials name it. Names compare as the services compare them
    /// (case-insensitively); parameters and inputs are not part of it.
    pub fn identity(&self) -> String {
        match self {
            TriggerTarget::Pipeline {
                organization,
                project,
                pipeline,
                branch,
                ..
            } => format!(
                "{PIPELINE} {}/{}/{}@{}",
                organization.name.to_ascii_lowercase(),
                project.to_lowercase(),
                pipeline.to_string().to_lowercase(),
                branch.as_deref().unwrap_or("")
            ),
            TriggerTarget::Release {
                organization,
                project,
                definition,
            } => format!(
                "{RELEASE} {}/{}/{}",
                organization.name.to_ascii_lowercase(),
                project.to_lowercase(),
                definition.to_string().to_lowercase()
            ),
            TriggerTarget::Workflow {
                repository,
                workflow,
                git_ref,
                ..
            } => format!(
                "{WORKFLOW} {}/{}@{git_ref}",
                repository.to_string().to_ascii_lowercase(),
                workflow.to_string().to_lowercase()
            ),
        }
    }
}

impl std::fmt::Display for TriggerTarget {
    /// For reports: `pipeline "billing-deploy" (contoso/payments)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TriggerTarget::Pipeline {
                organization,
                project,
                pipeline,
                ..
            } => write!(f, "pipeline {pipeline} ({}/{project})", organization.name),
            TriggerTarget::Release {
                organization,
                project,
                definition,
            } => write!(
                f,
                "release definition {definition} ({}/{project})",
                organization.name
            ),
            TriggerTarget::Workflow {
                repository,
                workflow,
                ..
            } => write!(f, "workflow {workflow} of {repository}"),
        }
    }
}

const PIPELINE: &str = "azure-devops-pipeline";
const RELEASE: &str = "azure-devops-release";
const WORKFLOW: &str = "github-workflow";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    to: Option<Spanned<String>>,
    organization: Option<Spanned<String>>,
    project: Option<Spanned<String>>,
    pipeline: Option<Spanned<NameOrIdText>>,
    branch: Option<Spanned<String>>,
    parameters: Option<Spanned<BTreeMap<String, String>>>,
    definition: Option<Spanned<NameOrIdText>>,
    repository: Option<Spanned<String>>,
    workflow: Option<Spanned<NameOrIdText>>,
    #[serde(rename = "ref")]
    git_ref: Option<Spanned<String>>,
    inputs: Option<Spanned<BTreeMap<String, String>>>,
}

pub(super) fn read_trigger(
    src: &Source<'_>,
    credential: &Subject,
    index: usize,
    spanned: &Spanned<RawTrigger>,
) -> Result<TriggerTarget, String> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let subject = credential.part(format_args!("trigger #{}", index + 1));
    let present = [
        ("organization", span(&raw.organization)),
        ("project", span(&raw.project)),
        ("pipeline", span(&raw.pipeline)),
        ("branch", span(&raw.branch)),
        ("parameters", span(&raw.parameters)),
        ("definition", span(&raw.definition)),
        ("repository", span(&raw.repository)),
        ("workflow", span(&raw.workflow)),
        ("ref", span(&raw.git_ref)),
        ("inputs", span(&raw.inputs)),
    ];
    let to = required(
        src,
        &subject,
        at,
        &raw.to,
        "to",
        "\"azure-devops-pipeline\", \"azure-devops-release\" or \"github-workflow\"",
    )?;
    let devops =
        |subject: &Subject| read_devops_project(src, subject, at, &raw.organization, &raw.project);
    match to.get_ref().as_str() {
        PIPELINE => {
            let allowed = [
                "organization",
                "project",
                "pipeline",
                "branch",
                "parameters",
            ];
            refuse_foreign(src, &subject, PIPELINE, &present, &allowed)?;
            let (organization, project) = devops(&subject)?;
            let pipeline = required(
                src,
                &subject,
                at,
                &raw.pipeline,
                "pipeline",
                "the YAML pipeline's name or numeric id",
            )?;
            let branch = match &raw.branch {
                None => None,
                Some(branch) => Some(read_ref(src, &subject, "branch", branch)?),
            };
            Ok(TriggerTarget::Pipeline {
                organization,
                project,
                pipeline: read_name_or_id(src, &subject, "pipeline", pipeline)?,
                branch,
                parameters: read_string_map(src, &subject, "parameters", &raw.parameters)?,
            })
        }
        RELEASE => {
            let allowed = ["organization", "project", "definition"];
            refuse_foreign(src, &subject, RELEASE, &present, &allowed)?;
            let (organization, project) = devops(&subject)?;
            let definition = required(
                src,
                &subject,
                at,
                &raw.definition,
                "definition",
                "the classic release definition's name or numeric id",
            )?;
            Ok(TriggerTarget::Release {
                organization,
                project,
                definition: read_name_or_id(src, &subject, "definition", definition)?,
            })
        }
        WORKFLOW => {
            let allowed = ["repository", "workflow", "ref", "inputs"];
            refuse_foreign(src, &subject, WORKFLOW, &present, &allowed)?;
            let repository = required(
                src,
                &subject,
                at,
                &raw.repository,
                "repository",
                "\"owner/name\"",
            )?;
            let workflow = required(
                src,
                &subject,
                at,
                &raw.workflow,
                "workflow",
                "the workflow's file name, like \"deploy.yml\", or its numeric id",
            )?;
            let git_ref = required(
                src,
                &subject,
                at,
                &raw.git_ref,
                "ref",
                "the branch or tag to run the workflow on, like \"main\"",
            )?;
            Ok(TriggerTarget::Workflow {
                repository: read_repository(src, &subject, repository)?,
                workflow: read_workflow(src, &subject, workflow)?,
                git_ref: read_ref(src, &subject, "ref", git_ref)?,
                inputs: read_string_map(src, &subject, "inputs", &raw.inputs)?,
            })
        }
        other => Err(src.error_at(
            to.span().start,
            format_args!(
                "{subject}: unknown to = {other:?}: use \"{PIPELINE}\", \"{RELEASE}\" or \
                 \"{WORKFLOW}\""
            ),
        )),
    }
}

/// A workflow file name in `.github/workflows` (`deploy.yml`), or a numeric id.
fn read_workflow(
    src: &Source<'_>,
    subject: &Subject,
    raw: &Spanned<NameOrIdText>,
) -> Result<NameOrId, String> {
    let workflow = read_name_or_id(src, subject, "workflow", raw)?;
    if let NameOrId::Name(name) = &workflow {
        let file = (name.ends_with(".yml") || name.ends_with(".yaml")) && is_plain_name(name, 255);
        if !file {
            return Err(src.error_at(
                raw.span().start,
                format_args!(
                    "{subject}: workflow {name:?} is not a workflow file name: write the file's \
                     name in .github/workflows, like \"deploy.yml\", or the workflow's id"
                ),
            ));
        }
    }
    Ok(workflow)
}

/// A git branch or tag name, as git allows them (`git check-ref-format`, in short).
fn read_ref(
    src: &Source<'_>,
    subject: &Subject,
    key: &str,
    raw: &Spanned<String>,
) -> Result<String, String> {
    let text = raw.get_ref();
    let bad = text.is_empty()
        || text.len() > 255
        || text.starts_with(['-', '/'])
        || text.ends_with(['/', '.'])
        || text.contains("..")
        || text.contains("//")
        || text.contains("@{")
        || text
            .chars()
            .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c));
    if bad {
        return Err(src.error_at(
            raw.span().start,
            format_args!("{subject}: {key} {text:?} is not a branch or tag name, like \"main\""),
        ));
    }
    Ok(text.clone())
}
