"""The review console (`gxp serve`): reviewers triage and adjudicate, approvers sign, in a browser (issue 16)."""
