"""Recompute the stored status of every record and say how many were wrong (a repair tool)."""

from django.core.management.base import BaseCommand

from confirmations.status import statuses_refresh_all


class Command(BaseCommand):
    help = "重新计算每条新生记录的激活状态（是否激活），报告更正的条数"

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--chunk", type=int, default=5000, help="records classified per statement"
        )

    def handle(self, *args, chunk: int, **options) -> None:
        corrected = statuses_refresh_all(chunk=chunk)
        self.stdout.write(f"已更正 {corrected} 条记录的激活状态（corrected {corrected} records)")
