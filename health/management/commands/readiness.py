"""Print what /readyz reports; for container health checks and operators on a shell."""

import json

from django.core.management.base import BaseCommand, CommandError

from health.readiness import readiness

CHECKS = ("database", "broker", "beat", "queues")


class Command(BaseCommand):
    help = (
        "Print the readiness checks as JSON; exit non-zero unless they pass. "
        "--check limits the verdict to the named checks (e.g. --check beat for the beat container)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="append", choices=CHECKS, dest="checks")

    def handle(self, *args, **options):
        checks = readiness()["checks"]
        chosen = {name: checks[name] for name in options["checks"] or CHECKS if name in checks}
        self.stdout.write(json.dumps(chosen, ensure_ascii=False, indent=2))
        failing = sorted(name for name, check in chosen.items() if not _passes(check))
        missing = sorted(set(options["checks"] or CHECKS) - set(checks))
        if failing or missing:
            raise CommandError(f"not ready: {', '.join(failing + missing)}")


def _passes(check: dict) -> bool:
    if "ok" in check:
        return check["ok"]
    return all(queue["ok"] for queue in check.values())  # the queues, each with its own verdict
