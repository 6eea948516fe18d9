"""The image's entry point as SageMaker calls it: ``docker run IMAGE train`` or ``docker run IMAGE serve``."""

from __future__ import annotations

import sys

USAGE = "usage: python -m gxp_assets.remote {train|serve}"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("train", "serve"):
        print(USAGE, file=sys.stderr)
        return 2
    if argv[0] == "train":
        from gxp_assets.remote.sagemaker_training import main as train

        return train()
    from gxp_assets.remote.serving import main as serve

    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
