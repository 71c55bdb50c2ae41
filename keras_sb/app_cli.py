"""The web demo's options and start-up: ``keras-sb demo`` (also ``keras-sb-demo``,
``python app.py`` in a checkout, ``python -m keras_sb.app_cli``) with ``[--model PATH]
[--pretext PATH] [--host H] [--port P] [--max-upload-mb N] [--cache-quota-mb N]
[--uploads-per-minute N] [--requests-per-minute N] [--trusted-proxy ADDRESS]``; the page, its
handlers and the server settings live in ``keras_sb/demo/`` (see docs/demo.md). Its options
are declared without importing TensorFlow or Gradio, which load once the arguments have been
parsed.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import sys
from collections.abc import Sequence

from keras_sb.constants import (
    DEFAULT_CACHE_QUOTA_MB,
    DEFAULT_HOST,
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_MODEL,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_UPLOADS_PER_MINUTE,
)

DESCRIPTION = ("Serve the web demo: classify an image and show the split-brain colorization "
               "and lightness predictions (docs/demo.md).")


def megabytes(text: str) -> float:
    """``text`` as a finite positive number (argparse type of the ``-mb`` options)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite positive number, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """``text`` as a positive whole number (argparse type of the ``-per-minute`` options)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def port_number(text: str) -> int:
    """``text`` as a TCP port, 1 to 65535 (argparse type of ``--port``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, not {text!r}")
    return value


def proxies(text: str) -> list[str]:
    """``text``, comma-separated IP addresses or networks (``10.0.0.0/8``), as networks
    (argparse type of ``--trusted-proxy``)."""
    try:
        return [str(ipaddress.ip_network(part.strip(), strict=False))
                for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be IP addresses or networks (such as 10.0.0.2 or 10.0.0.0/8), "
            f"comma-separated, not {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare the demo's options on ``parser``; returns it."""
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="PATH",
                        help="classifier .keras file or run folder from finetune or linprobe, "
                        "or a pretraining run or checkpoint (colorizations only) (default: the "
                        "shipped classifier)")
    parser.add_argument("--pretext", metavar="PATH",
                        help="pretraining run or checkpoint that draws the colorizations when "
                        "the classifier has no pretext heads (--feature-layer other than "
                        "logits); default for the shipped model: pretext.keras next to it, "
                        "if present")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to serve on; 0.0.0.0 for every interface "
                        "(default: %(default)s)")
    parser.add_argument("--port", type=port_number, default=7860,
                        help="port (default: %(default)s)")
    parser.add_argument("--max-upload-mb", type=megabytes, default=DEFAULT_MAX_UPLOAD_MB,
                        metavar="N", help="largest upload in MB (MiB); larger ones are "
                        "refused (default: %(default)g)")
    parser.add_argument("--cache-quota-mb", type=megabytes, default=DEFAULT_CACHE_QUOTA_MB,
                        metavar="N", help="most MB (MiB) the uploads and result images kept "
                        "for an hour may take; uploads beyond it are refused until old files "
                        "are deleted (default: %(default)g)")
    parser.add_argument("--uploads-per-minute", type=positive_int,
                        default=DEFAULT_UPLOADS_PER_MINUTE, metavar="N",
                        help="most uploads one client (IP address) may send a minute "
                        "(default: %(default)s)")
    parser.add_argument("--requests-per-minute", type=positive_int,
                        default=DEFAULT_REQUESTS_PER_MINUTE, metavar="N",
                        help="most /classify calls (one per image or temperature change) one "
                        "client may make a minute (default: %(default)s)")
    parser.add_argument("--trusted-proxy", type=proxies, action="extend", default=[],
                        metavar="ADDRESS", help="reverse proxy (IP address or network; "
                        "repeat the option or separate them with commas) whose X-Forwarded-For "
                        "header names the client the limits apply to (default: none, every "
                        "client is its connection's address)")
    return parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(prog=prog, description=DESCRIPTION))


def serve_demo(args: argparse.Namespace) -> int:
    """Load the model and serve the page until interrupted (SIGINT or SIGTERM); returns the
    exit code."""
    import keras_sb
    keras_sb.load()
    from keras_sb.checkpoints import CheckpointError
    from keras_sb.demo import (
        StartError,
        build_demo,
        check_pretext,
        choose_pretext,
        interrupt_on_stop_signals,
        load_model,
        load_pretext,
        private_cache,
        serve,
    )
    from keras_sb.models import SplitBrainClassifier

    pretext, pretext_path = None, choose_pretext(args.model, args.pretext)
    try:
        model = load_model(args.model)
        if isinstance(model, SplitBrainClassifier) and not model.has_pretext_heads:
            if pretext_path is not None:
                pretext = load_pretext(pretext_path)
                check_pretext(model, pretext, args.model, pretext_path)
        elif args.pretext is not None:
            print(f"note: --pretext {args.pretext} is not used: --model {args.model} draws "
                  "its own colorizations", file=sys.stderr)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        with interrupt_on_stop_signals(), private_cache():  # removed when the server stops
            demo = build_demo(model, args.model, pretext=pretext, pretext_name=pretext_path or "")
            serve(demo, args.host, args.port, max_upload_mb=args.max_upload_mb,
                  cache_quota_mb=args.cache_quota_mb, uploads_per_minute=args.uploads_per_minute,
                  requests_per_minute=args.requests_per_minute,
                  trusted_proxies=args.trusted_proxy)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m keras_sb.app_cli [options]``: parse, then serve."""
    return serve_demo(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
