"""The Spark lint of a whole pipeline: every step's query and custom check transpiled (no JVM),
every file source's reader options checked, and what would run differently refused.

A refusal names the construct, the file and line, and a Spark-safe alternative (``rules.py``);
the checks themselves are ``query_checks``. ``flowdeck validate --engine spark`` prints the
report and the executor refuses a Spark run whose report has findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from flowdeck.engine.backends.spark.context import Finding
from flowdeck.engine.backends.spark.file_functions import ProjectFiles
from flowdeck.engine.backends.spark.schemas import param_types, plan_schemas
from flowdeck.engine.backends.spark.sources import SOURCE_RULE, SourceProblem, check_source_options
from flowdeck.engine.backends.spark.transpile import transpile
from flowdeck.engine.backends.spark.rules import RULES
from flowdeck.engine.errors import FlowdeckError, Location, PlanError, excerpt_of
from flowdeck.engine.plugins import registry
from flowdeck.engine.project.config.steps import ExtractStep, FileSource, PythonStep
from flowdeck.engine.project.functions import load_function, spark_implementation

if TYPE_CHECKING:
    from flowdeck.engine.plan.planner import Plan
    from flowdeck.engine.project.project import Project
    from flowdeck.engine.project.yamlfile import YamlDocument


@dataclass
class LintIssue:
    """One refused construct in one file of a pipeline."""

    step: str
    path: Path
    finding: Finding
    text: str

    def render(self) -> str:
        """file:line:col: message, the line with a caret, and the alternative."""
        finding = self.finding
        location = Location(self.path, finding.line, finding.column)
        excerpt = excerpt_of(self.text, finding.line, finding.column) if finding.line else ""
        parts = [f"{location}: step `{self.step}`: {finding.message()}"]
        if excerpt:
            parts.append(excerpt)
        parts.append(f"hint: {finding.hint()}")
        return "\n".join(parts)


@dataclass
class LintReport:
    """Everything the lint refuses in one pipeline, and what it would rewrite."""

    pipeline: str
    issues: list[LintIssue] = field(default_factory=list)
    rewrites: dict[str, list[str]] = field(default_factory=dict)  # step → rule ids

    @property
    def ok(self) -> bool:
        """Whether the pipeline may run on Spark."""
        return not self.issues

    def error(self) -> PlanError:
        """The refusal as one error (the first issue, with the others attached)."""
        first, *rest = self.issues
        errors = [_issue_error(issue) for issue in (first, *rest)]
        head = errors[0]
        return PlanError(head.what, location=head.location, excerpt=head.excerpt, hint=head.hint, also=errors[1:])


def _issue_error(issue: LintIssue) -> PlanError:
    finding = issue.finding
    return PlanError(
        f"step `{issue.step}`: {finding.message()}",
        location=Location(issue.path, finding.line, finding.column),
        excerpt=excerpt_of(issue.text, finding.line, finding.column) if finding.line else None,
        hint=finding.hint(),
    )


def lint_plan(project: Project, plan: Plan) -> LintReport:
    """Transpile every query of ``plan`` for Spark (no JVM) and collect what the lint refuses."""
    report = LintReport(pipeline=plan.name)
    schemas = plan_schemas(project, plan)
    files = ProjectFiles(project.root)
    params = param_types(plan.source.config.params)
    for name in plan.order:
        step = plan.steps[name]
        if isinstance(step.config, ExtractStep) and isinstance(step.config.source, FileSource):
            for problem in check_source_options(step.config.source):
                report.issues.append(_source_issue(problem, name, plan.source.file, plan.source.document,
                                                   ("steps", step.index, "source", "options")))
        refusal = _engine_refusal(plan, step.config)
        if refusal is not None:
            rule, detail = refusal
            report.issues.append(_step_issue(plan, step.index, name, rule, detail))
        queries = []
        if step.query is not None:
            queries.append((step.query, True))
        queries += [(check.query, False) for check in step.checks if check.query is not None]
        for query, is_output in queries:
            translated = transpile(query.text, schema=schemas, output=is_output, files=files, params=params)
            for finding in translated.findings:
                report.issues.append(LintIssue(step=name, path=query.path, finding=finding, text=query.text))
            if translated.rewrites:
                report.rewrites.setdefault(name, []).extend(translated.rewrites)
    return report


def _source_issue(problem: SourceProblem, step: str, path: Path, document: YamlDocument,
                  at: tuple[str | int, ...]) -> LintIssue:
    """A source option the Spark reader cannot honour, as a lint issue pointing into pipeline.yaml."""
    location = document.location(at)
    finding = Finding(SOURCE_RULE, location.line, location.column, problem.option, problem.message)
    return LintIssue(step=step, path=path, finding=finding, text=path.read_text(encoding="utf-8"))


def _engine_refusal(plan: Plan, config: object) -> tuple[str, str] | None:
    """Why a step that is not SQL cannot run on Spark: a Python function without a Spark
    implementation, or a plugin's kind that does not declare Spark (rule id, detail); or None."""
    if isinstance(config, PythonStep):
        try:
            function = load_function(plan.source.folder, config.function, config.name)
        except FlowdeckError as error:
            return "python_step", error.what
        return None if spark_implementation(function) else ("python_step", config.function)
    kind = getattr(config, "kind", "")
    declared = registry.step_kinds.get(kind)
    if declared is not None and "spark" not in declared.engines:
        return "plugin_step", f"kind {kind} runs on {', '.join(declared.engines)}"
    return None


def _step_issue(plan: Plan, index: int, step: str, rule: str, detail: str) -> LintIssue:
    """A refused step, pointing at its entry in pipeline.yaml."""
    location = plan.source.document.location(("steps", index, "kind"))
    finding = Finding(RULES[rule], location.line, location.column, RULES[rule].construct, detail)
    return LintIssue(step=step, path=plan.source.file, finding=finding,
                     text=plan.source.file.read_text(encoding="utf-8"))
