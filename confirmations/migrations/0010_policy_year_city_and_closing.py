"""Policy years name their city, say what closes them, and wait by Shanghai's rule by default.

* `enrollment_period_opens` becomes `closing_date`, with `closing_basis` saying which event of
  the seeds closes the channels. Years stored before kept the meaning they had (closed from the
  day the next year's payment period opens); new years default to seed 03's filing deadline.
* `city`: existing years serve Shanghai (schools/0003).
* The waiting rule's default was the national guideline (3 + 1 per gap year), a misreading of
  the seeds (domain.md §6, corrected): years still on that untouched default move to seed 03's
  3 months per gap year. An administrator who wants the national rule sets 3 and 1 again.
"""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

PLEDGE_DEFAULT = (
    "自愿参保承诺书（新生）\n\n本人 {name}，证件号码 {id_number}，属于 {school}，{college}，{major} 专业，"
    "{enrollment_year} 级新生，学号 {student_number}。\n\n承诺：\n"
    "1. 本人已了解{city}城乡居民基本医疗保险及门诊共济保障机制的相关政策。\n"
    "2. 经充分考虑，愿意参加 {next_year} 年度的{city}城乡居民基本医疗保险，"
    "且会按规定缴纳 {next_year} 年度本市居民参保费。\n"
    "3. 因未按规定缴纳 {next_year} 年度本市居民医保费，产生的上一年度全额医疗费用，由本人自行承担；"
    "已发生的持卡结算费用将全额退回。\n\n"
    "以上内容真实有效，上述承诺是 {name} 的真实意思表示。本人愿承担不实承诺及提供虚假信息的民事、行政责任。"
    "\n\n承诺时间：{date}"
)
PLEDGE_HELP = (
    "可用占位符：{name} {id_number} {school} {college} {major} {student_number} "
    "{enrollment_year} {next_year} {date} {city}"
)


def shanghai_and_local_waiting_rule(apps, schema_editor):
    City = apps.get_model("schools", "City")
    PolicyYear = apps.get_model("confirmations", "PolicyYear")
    shanghai, _ = City.objects.get_or_create(
        code="310000",
        defaults={
            "name": "上海市",
            "app_name": "随申办",
            "hotline": "021-12393",
            "benefit_start": "registration",
            "permit_prefixes": {},
        },
    )
    PolicyYear.objects.filter(city__isnull=True).update(city=shanghai)
    PolicyYear.objects.filter(waiting_fixed_months=3, waiting_months_per_gap_year=1).update(
        waiting_fixed_months=0, waiting_months_per_gap_year=3
    )


class Migration(migrations.Migration):
    dependencies = [
        ("confirmations", "0009_readiness_indexes"),
        ("schools", "0003_shanghai"),
    ]

    operations = [
        migrations.RenameField("policyyear", "enrollment_period_opens", "closing_date"),
        migrations.AddField(
            model_name="policyyear",
            name="closing_basis",
            field=models.CharField(default="payment_period", max_length=20),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="policyyear",
            name="city",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="policy_years",
                to="schools.city",
            ),
        ),
        migrations.RunPython(shanghai_and_local_waiting_rule, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="policyyear",
            name="city",
            field=models.ForeignKey(
                blank=True,
                help_text="本年度页面、提示和规则所用的城市（热线、App、待遇开始规则、证件格式）",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="policy_years",
                to="schools.city",
                verbose_name="城市",
            ),
        ),
        migrations.AlterField(
            model_name="policyyear",
            name="closing_basis",
            field=models.CharField(
                choices=[
                    ("payment_period", "下一年度居民医保集中参保缴费期开始（当日起暂停）"),
                    ("filing_deadline", "下一年度居民医保集中申报工作截止日（当日仍可办理）"),
                ],
                default="filing_deadline",
                max_length=20,
                verbose_name="确认截止依据",
            ),
        ),
        migrations.AlterField(
            model_name="policyyear",
            name="closing_date",
            field=models.DateField(
                help_text="新生本人确认和院校代确认两个渠道同时关闭的日期，由市、区医保中心通知；"
                "可以晚于 12 月 31 日（本年度窗口跨年时，1 月仍按本年度办理）",
                verbose_name="确认截止日",
            ),
        ),
        migrations.AlterField(
            model_name="policyyear",
            name="premium",
            field=models.DecimalField(
                decimal_places=2,
                help_text="当年待遇表中的大学生个人缴费金额（2023 年 245 元，2025 年 355 元）；"
                "新生本年度实际缴费见“本年度新生个人缴费”",
                max_digits=8,
                verbose_name="本年度大学生个人缴费标准（元/年）",
            ),
        ),
        migrations.AlterField(
            model_name="policyyear",
            name="waiting_fixed_months",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="本市规则（2025 年新生通知）：0；国家指导意见（国办发〔2024〕38 号）：3",
                verbose_name="固定待遇等待期（月）",
            ),
        ),
        migrations.AlterField(
            model_name="policyyear",
            name="waiting_months_per_gap_year",
            field=models.PositiveSmallIntegerField(
                default=3,
                help_text="本市规则：每断保一年 3 个月，逐年累加；国家指导意见：每断保一年增加 1 个月",
                verbose_name="每断保一年的待遇等待期（月）",
            ),
        ),
        migrations.AlterField(
            model_name="policyyear",
            name="pledge_text",
            field=models.TextField(
                default=PLEDGE_DEFAULT, help_text=PLEDGE_HELP, verbose_name="承诺书文本"
            ),
        ),
        migrations.AlterField(
            model_name="policyyear",
            name="current_year_premium",
            field=models.DecimalField(
                decimal_places=2,
                default=0,
                help_text="新生当年的个人缴费；上海新生本年度免缴，填 0",
                max_digits=8,
                validators=[django.core.validators.MinValueValidator(0)],
                verbose_name="本年度新生个人缴费（元）",
            ),
        ),
    ]
