"""`gxp trace`: where a report went, from quarantine or a training split to each scoring, with why and under whose
approvals."""

from __future__ import annotations

import argparse

from gxp_assets.cli.common import EXIT_OK, CliError, add_use_case_option
from gxp_assets.cli.views import print_approvals, print_scorings
from gxp_assets.governance.service import Governance
from gxp_assets.stores import open_governance


def _print_training_use(report_id: str, governance: Governance, only: str | None) -> bool:
    """The quarantine and the split the report served in for each registered model version (of use case ``only``
    when given)."""
    from gxp_assets.governance.recorded_assets import recorded_asset
    from gxp_assets.stores import artifact_store, codecs, use_cases_in_force

    store, found = artifact_store(), False
    for use_case in sorted(use_cases_in_force()):
        if only and use_case != only:
            continue
        quarantine = store.latest(f"{use_case}/quarantined_reports")
        if quarantine is None:
            continue
        held = codecs.decode(store.read(quarantine), quarantine.suffix)
        for row in held[held["report_id"] == report_id].to_dict("records"):
            found = True
            print(f"{report_id}: quarantined ({row['reason']}: {row['detail']}) from {row['source_file']}:"
                  f"{row['source_line']}, {use_case} quarantine version {quarantine.sha256[:12]}")  # fmt: skip
    for model in governance.registry.versions():
        if only and model.use_case != only:
            continue
        lineage = model.record.get("lineage", {})
        stored, splits_version = recorded_asset(model.record, "dataset_splits")
        if splits_version is None:  # a record without data lineage cannot have served any report
            continue
        ref = store.find(stored, splits_version)
        splits = codecs.decode(store.read(ref), ref.suffix)
        rows = splits[splits["report_id"] == report_id]
        if rows.empty:
            continue
        found = True
        print(f"{report_id}: {rows['split'].iloc[0]} split of model {model.version} ({model.state})")
        print(f"  data versions: validated_reports {lineage['assets']['validated_reports']['data_version'][:12]}, "
              f"dataset_splits {splits_version[:12]}; code commit {lineage['code']['commit']}; "
              f"plan {model.record['plan']['version']} ({model.record['plan']['sha256'][:12]}); "
              f"trained by {lineage['trained_by']}")  # fmt: skip
        print("  approvals:")
        print_approvals(governance, model.version, indent="    ")
    return found


def cmd_trace(args: argparse.Namespace) -> int:
    """Quarantine, training use and every scoring of a report; scorings only from a results index that matches the
    audit trail (exit 1 otherwise)."""
    from gxp_assets.stores import verified_results

    governance = open_governance()
    found = _print_training_use(args.report_id, governance, args.use_case)
    scorings = verified_results().find_report(args.report_id, use_case=args.use_case)
    print_scorings(scorings, governance)
    if not found and scorings.empty:
        raise CliError(f"report {args.report_id} is in no quarantine, no registered model's data and no scored batch")
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction) -> None:
    trace = commands.add_parser("trace", help="where a report went: quarantine, training split, each scoring with "
                                "its explanation, the model's approvals and the plan")  # fmt: skip
    trace.add_argument("report_id", help="the report's report_id as received")
    add_use_case_option(trace, default=None)
    trace.set_defaults(handler=cmd_trace)
