"""Refused landing-zone entries (symbolic links, sub-folders, devices) are audited by a run, not by the sensor.

The landing sensor only asks: one ``landing_refusals`` run per new refusal set (its run key is their hash), and that
run writes the ``landing_refused`` entries. Evaluating the sensor, also with ``dagster sensor preview``, writes
nothing.
"""

from dagster import Config, JobDefinition, OpExecutionContext, job, op

from gxp_assets.stores import audit_trail

REFUSALS_OP = "record_landing_refusals"


class RefusalsConfig(Config):
    refusals: dict[str, str]  # "use_case/kind/name" -> why it was refused (the audit subject: landing/<that>)


@op(name=REFUSALS_OP, description="Write one landing_refused audit entry per refused landing-zone entry.")
def record_landing_refusals(context: OpExecutionContext, config: RefusalsConfig) -> None:
    trail = audit_trail()
    for entry, why in sorted(config.refusals.items()):
        trail.append("system", "landing_refused", f"landing/{entry}", {"reason": why, "run_id": context.run_id})
        context.log.warning(f"landing/{entry}: {why}")


def landing_refusals_job(name: str) -> JobDefinition:
    """The job of one use case's landing folder (its landing_files sensor requests it)."""

    @job(name=name, description="Audit entries the landing zone refused (links, sub-folders, devices); requested by "
         "landing_files.")  # fmt: skip
    def landing_refusals() -> None:
        record_landing_refusals()

    return landing_refusals
