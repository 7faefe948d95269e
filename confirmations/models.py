"""Policy years, confirmations (applications), signed pledges, and the built-in account store."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import string
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from confirmations import estimator, year_cache
from confirmations.benefits import LOCAL_WAITING_RULE, WaitingRule
from enrollment.models import StudentRecord
from schools.models import City

DEFAULT_PLEDGE_TEXT = """自愿参保承诺书（新生）

本人 {name}，证件号码 {id_number}，属于 {school}，{college}，{major} 专业，{enrollment_year} 级新生，学号 {student_number}。

承诺：
1. 本人已了解{city}城乡居民基本医疗保险及门诊共济保障机制的相关政策。
2. 经充分考虑，愿意参加 {next_year} 年度的{city}城乡居民基本医疗保险，且会按规定缴纳 {next_year} 年度本市居民参保费。
3. 因未按规定缴纳 {next_year} 年度本市居民医保费，产生的上一年度全额医疗费用，由本人自行承担；已发生的持卡结算费用将全额退回。

以上内容真实有效，上述承诺是 {name} 的真实意思表示。本人愿承担不实承诺及提供虚假信息的民事、行政责任。

承诺时间：{date}"""

# What a pledge text may name; `services.pledge_text` fills exactly these.
PLEDGE_PLACEHOLDERS = (
    "name",
    "id_number",
    "school",
    "college",
    "major",
    "student_number",
    "enrollment_year",
    "next_year",
    "date",
    "city",
)


def validate_pledge_text(text: str) -> None:
    """Refuse a pledge text that students would see with a raw `{placeholder}` in it (a typo,
    a placeholder no record fills) or that cannot be filled at all (an unbalanced brace)."""
    known = "、".join("{" + name + "}" for name in PLEDGE_PLACEHOLDERS)
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValidationError(
            f"承诺书中的花括号不成对，无法填入学生信息。占位符写作 {{name}}；可用的占位符：{known}"
        ) from exc
    unknown = sorted(names - set(PLEDGE_PLACEHOLDERS))
    if unknown:
        listed = "、".join("{" + name + "}" for name in unknown)
        raise ValidationError(f"承诺书中有未知的占位符 {listed}。可用的占位符：{known}")


PERCENT = [MinValueValidator(0), MaxValueValidator(100)]
# Seed 01 line 756, seed 02 lines 129–137.
SERIOUS_ILLNESS_SCOPE = (
    "重症尿毒症透析治疗、肾移植抗排异治疗、恶性肿瘤治疗（化学治疗、内分泌特异治疗、放射治疗、"
    "同位素治疗、介入治疗、中医治疗）、部分精神病病种治疗（精神分裂症、中重度抑郁症、躁狂症、强迫症、"
    "精神发育迟缓伴发精神障碍、癫痫伴发精神障碍、偏执性精神病）、血友病治疗、再生障碍性贫血治疗等"
)


class PolicyYear(models.Model):
    """One enrollment year's calendar, money and texts, edited by city administrators."""

    class ClosingBasis(models.TextChoices):
        """What closes both confirmation channels that year, as the seed of that year says."""

        # Seed 01/04 (2023): "集中参保缴费期开始，确认事项暂停" — closed from that day on.
        PAYMENT_PERIOD = "payment_period", "下一年度居民医保集中参保缴费期开始（当日起暂停）"
        # Seed 03 (2025): "结束时间与院校 2026 年度居民医保集中申报工作截止日同步" — open through it.
        FILING_DEADLINE = "filing_deadline", "下一年度居民医保集中申报工作截止日（当日仍可办理）"

    enrollment_year = models.PositiveSmallIntegerField("入学年度", unique=True)
    city = models.ForeignKey(
        City,
        verbose_name="城市",
        on_delete=models.PROTECT,
        related_name="policy_years",
        blank=True,  # left empty: the installation's city (City.default)
        help_text="本年度页面、提示和规则所用的城市（热线、App、待遇开始规则、证件格式）",
    )
    closing_basis = models.CharField(
        "确认截止依据",
        max_length=20,
        choices=ClosingBasis,
        default=ClosingBasis.FILING_DEADLINE,
    )
    closing_date = models.DateField(
        "确认截止日",
        help_text="新生本人确认和院校代确认两个渠道同时关闭的日期，由市、区医保中心通知；"
        "可以晚于 12 月 31 日（本年度窗口跨年时，1 月仍按本年度办理）",
    )
    premium = models.DecimalField(
        "本年度大学生个人缴费标准（元/年）",
        max_digits=8,
        decimal_places=2,
        help_text="当年待遇表中的大学生个人缴费金额（2023 年 245 元，2025 年 355 元）；"
        "新生本年度实际缴费见“本年度新生个人缴费”",
    )
    promised_minutes = models.PositiveSmallIntegerField("建账承诺时限（分钟）", default=30)
    # Seed 03 (Shanghai) by default: 3 months per year without coverage, cumulative; the national
    # guideline of seed 02 is fixed 3 + 1 per year (benefits.NATIONAL_WAITING_RULE).
    waiting_fixed_months = models.PositiveSmallIntegerField(
        "固定待遇等待期（月）",
        default=LOCAL_WAITING_RULE.fixed_months,
        help_text="本市规则（2025 年新生通知）：0；国家指导意见（国办发〔2024〕38 号）：3",
    )
    waiting_months_per_gap_year = models.PositiveSmallIntegerField(
        "每断保一年的待遇等待期（月）",
        default=LOCAL_WAITING_RULE.months_per_gap_year,
        help_text="本市规则：每断保一年 3 个月，逐年累加；国家指导意见：每断保一年增加 1 个月",
    )
    current_year_premium = models.DecimalField(
        "本年度新生个人缴费（元）",
        max_digits=8,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="新生当年的个人缴费；上海新生本年度免缴，填 0",
    )
    serious_illness_percent = models.DecimalField(
        "大病保险再报销比例（%）",
        max_digits=5,
        decimal_places=2,
        default=60,
        validators=PERCENT,
        help_text="居民医保结算后个人自负部分由大病保险资金再报销的比例",
    )
    serious_illness_low_income_percent = models.DecimalField(
        "低保、低收入家庭成员大病再报销比例（%）",
        max_digits=5,
        decimal_places=2,
        default=65,
        validators=PERCENT,
    )
    serious_illness_scope = models.TextField(
        "大病保险范围",
        blank=True,
        default=SERIOUS_ILLNESS_SCOPE,
        help_text="学生页面和费用估算中说明哪些治疗可享受大病保险",
    )
    claim_months = models.PositiveSmallIntegerField(
        "零星报销申请期限（月）",
        default=6,
        validators=[MinValueValidator(1), MaxValueValidator(36)],
        help_text="个人垫付的医疗费用，自就医凭证开具之日起多少个月内可申请零星报销",
    )
    pledge_text = models.TextField(
        "承诺书文本",
        default=DEFAULT_PLEDGE_TEXT,
        validators=[validate_pledge_text],
        help_text="可用占位符：" + " ".join("{" + name + "}" for name in PLEDGE_PLACEHOLDERS),
    )
    pledge_version = models.PositiveIntegerField("承诺书版本", default=1, editable=False)

    class Meta:
        verbose_name = verbose_name_plural = "政策年度"
        ordering = ["-enrollment_year"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    serious_illness_percent__gte=0,
                    serious_illness_percent__lte=100,
                    serious_illness_low_income_percent__gte=0,
                    serious_illness_low_income_percent__lte=100,
                ),
                name="policy_year_serious_illness_shares_are_percentages",
            )
        ]

    def __str__(self) -> str:
        return f"{self.enrollment_year} 年度"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.city_id is None:
            self.city = City.default()
        # A changed pledge text is a new version; signed pledges keep the text they were shown.
        if self.pk:
            previous = PolicyYear.objects.filter(pk=self.pk).values_list("pledge_text", flat=True)
            if previous and previous[0] != self.pledge_text:
                self.pledge_version += 1
        super().save(*args, **kwargs)

    @property
    def next_year(self) -> int:
        return self.enrollment_year + 1

    @property
    def waiting_rule(self) -> WaitingRule:
        return WaitingRule(self.waiting_fixed_months, self.waiting_months_per_gap_year)

    @property
    def waiting_rule_text(self) -> str:
        """The year's waiting rule in words, for students and staff."""
        rule = self.waiting_rule
        per_year = f"每断保一年 {rule.months_per_gap_year} 个月"
        if rule.fixed_months:
            return f"固定 {rule.fixed_months} 个月，另{per_year}"
        return f"{per_year}，逐年累加"

    @property
    def opens_on(self) -> dt.date:
        """Confirmations start with the year's registrations (1 August at the earliest)."""
        return dt.date(self.enrollment_year, 8, 1)

    @property
    def last_open_day(self) -> dt.date:
        if self.closing_basis == self.ClosingBasis.PAYMENT_PERIOD:
            return self.closing_date - dt.timedelta(days=1)
        return self.closing_date

    def is_open(self, today: dt.date | None = None) -> bool:
        """Whether today lies in the year's confirmation window (both channels)."""
        today = today or timezone.localdate()
        return self.opens_on <= today <= self.last_open_day

    @property
    def closing_event(self) -> str:
        """What closes the channels, in the seed's words for that year."""
        if self.closing_basis == self.ClosingBasis.PAYMENT_PERIOD:
            return f"{self.next_year} 年度居民医保集中参保缴费期开始"
        return f"{self.next_year} 年度居民医保集中申报工作截止"

    def closed_message(self) -> str:
        """Why confirmation is no longer possible, and what happens instead."""
        if self.closing_basis == self.ClosingBasis.PAYMENT_PERIOD:
            return (
                f"{self.next_year} 年度居民医保集中参保缴费期已于 {self.closing_date:%Y-%m-%d} 开始，"
                "新生参保确认已暂停。请按院校通知参加集中参保申报"
            )
        return (
            f"新生参保确认已随 {self.next_year} 年度居民医保集中申报工作截止日"
            f"（{self.closing_date:%Y-%m-%d}）结束。请按院校通知参加集中参保申报"
        )

    def closing_notice(self) -> str:
        """When the channels close, for the staff desk and reminders."""
        if self.closing_basis == self.ClosingBasis.PAYMENT_PERIOD:
            return (
                f"新生本人确认和院校代确认将于 {self.closing_date:%Y-%m-%d}"
                f"（{self.closing_event}）起暂停"
            )
        return (
            f"新生本人确认和院校代确认办理至 {self.closing_date:%Y-%m-%d}（{self.closing_event}日）"
        )

    @classmethod
    def current(cls, today: dt.date | None = None) -> PolicyYear | None:
        """The year whose confirmation window contains today; after it closed, that year still
        (its pages say it is closed) until the next year's window opens.

        A window can run into January (seed 03: it closes with the next year's annual filing
        deadline, "about the end of December"), so this is not the calendar year.
        """
        return year_cache.current(today or timezone.localdate(), cls._current_from_db)

    @classmethod
    def _current_from_db(cls, today: dt.date) -> PolicyYear | None:
        started = [
            year
            for year in cls.objects.filter(enrollment_year__lte=today.year)
            .select_related("city")
            .order_by("-enrollment_year")[:3]
            if year.opens_on <= today
        ]
        return next((year for year in started if year.is_open(today)), None) or next(
            iter(started), None
        )

    def benefit_table(self) -> estimator.BenefitTable:
        """The year's benefit table as the estimator reads it."""
        return estimator.BenefitTable(
            rules=tuple(rule.as_rule() for rule in self.benefit_rules.all()),
            serious_illness_share=self.serious_illness_percent,
            serious_illness_low_income_share=self.serious_illness_low_income_percent,
            claim_months=self.claim_months,
        )


class BenefitRule(models.Model):
    """One line of a policy year's benefit table (就医政策): a kind of visit at a hospital level."""

    policy_year = models.ForeignKey(
        PolicyYear, on_delete=models.CASCADE, related_name="benefit_rules"
    )
    visit_kind = models.CharField("就诊类型", max_length=20, choices=estimator.VisitKind)
    hospital_level = models.CharField(
        "医院级别",
        max_length=3,
        choices=estimator.HospitalLevel,
        default=estimator.HospitalLevel.ANY,
    )
    deductible = models.DecimalField(
        "起付线（元）", max_digits=8, decimal_places=2, validators=[MinValueValidator(0)]
    )
    deductible_scope = models.CharField(
        "起付线计算方式",
        max_length=4,
        choices=estimator.DeductibleScope,
        default=estimator.DeductibleScope.PER_YEAR,
    )
    fund_share_percent = models.DecimalField(
        "医保基金支付比例（%）",
        max_digits=5,
        decimal_places=2,
        validators=PERCENT,
        help_text="超过起付线部分由医保基金支付的比例",
    )
    note = models.CharField("说明", max_length=100, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "待遇表"
        ordering = ["policy_year", "visit_kind", "hospital_level"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_year", "visit_kind", "hospital_level"],
                name="one_benefit_rule_per_visit_kind_and_level",
            ),
            models.CheckConstraint(
                condition=Q(fund_share_percent__gte=0, fund_share_percent__lte=100),
                name="benefit_rule_share_is_a_percentage",
            ),
            models.CheckConstraint(
                condition=Q(deductible__gte=0), name="benefit_rule_deductible_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_visit_kind_display()} {self.get_hospital_level_display()}"

    @classmethod
    def from_rule(cls, policy_year: PolicyYear, rule: estimator.Rule) -> BenefitRule:
        return cls(
            policy_year=policy_year,
            visit_kind=rule.visit_kind,
            hospital_level=rule.hospital_level,
            deductible=rule.deductible,
            deductible_scope=rule.deductible_scope,
            fund_share_percent=rule.fund_share,
            note=rule.note,
        )

    def as_rule(self) -> estimator.Rule:
        return estimator.Rule(
            visit_kind=self.visit_kind,
            hospital_level=self.hospital_level,
            deductible=self.deductible,
            deductible_scope=self.deductible_scope,
            fund_share=self.fund_share_percent,
            note=self.note,
        )


class Question(models.Model):
    """A question students ask and its answer for one policy year, edited by city administrators."""

    policy_year = models.ForeignKey(
        PolicyYear, verbose_name="政策年度", on_delete=models.CASCADE, related_name="questions"
    )
    question = models.CharField("问题", max_length=200)
    answer = models.TextField("解答", help_text="纯文本；换行会原样显示")
    source = models.CharField("出处", max_length=300, blank=True, help_text="政策文件或问答的名称")
    keywords = models.CharField(
        "检索关键词", max_length=200, blank=True, help_text="用空格分隔，学生搜索时也会匹配"
    )
    order = models.PositiveSmallIntegerField("排序", default=0)
    is_published = models.BooleanField("在学生页面显示", default=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "常见问题"
        ordering = ["policy_year", "order", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_year", "question"], name="one_answer_per_question_and_year"
            )
        ]

    def __str__(self) -> str:
        return self.question


def _approval_number() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(12))


class Application(models.Model):
    """A confirmation and its account-creation application (建账申请) for one policy year."""

    class State(models.TextChoices):
        PENDING = "pending", "已申请待审核"
        # Checked, with a waiting period: the account comes the day after it ends (seed 03).
        WAITING = "waiting", "待遇等待期"
        CREATED = "created", "已建账"
        FAILED = "failed", "建账失败"

    class Channel(models.TextChoices):
        SELF = "self", "本人办理"
        ON_BEHALF = "on_behalf", "院校代确认"

    class FailureKind(models.TextChoices):
        """Why an account was refused; `confirmations.failures` says what to do about each."""

        NAME_MISMATCH = "name_mismatch", "姓名与已有医保账户不一致"
        EMPLOYEE_INSURANCE = "employee_insurance", "已参加职工医保"
        TECHNICAL = "technical", "系统原因"
        OTHER = "other", "其他业务原因"

    approval_number = models.CharField(
        "统一审批编号", max_length=12, unique=True, default=_approval_number, editable=False
    )
    policy_year = models.ForeignKey(
        PolicyYear, verbose_name="政策年度", on_delete=models.PROTECT, related_name="applications"
    )
    record = models.ForeignKey(
        StudentRecord,
        verbose_name="新生记录",
        on_delete=models.PROTECT,
        related_name="applications",
    )
    id_number = models.CharField("证件号码", max_length=30)
    name = models.CharField("姓名", max_length=30)
    channel = models.CharField("渠道", max_length=10, choices=Channel)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="代确认人",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="confirmations_on_behalf",
    )
    paper_pledge_attested = models.BooleanField("已收到纸质承诺书", default=False)
    batch = models.ForeignKey(
        "BatchConfirmation",
        verbose_name="批量代确认",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applications",
    )
    state = models.CharField("状态", max_length=10, choices=State, default=State.PENDING)
    failure_kind = models.CharField("失败类型", max_length=20, choices=FailureKind, blank=True)
    failure_reason = models.CharField("失败原因", max_length=200, blank=True)
    converted_from = models.CharField("原参保身份", max_length=30, blank=True)
    submitted_at = models.DateTimeField("提交时间", default=timezone.now)
    last_queued_at = models.DateTimeField("最近排队时间", default=timezone.now)
    # When a worker last started on it: claimed after it was queued and still pending a while
    # later means that worker died; never claimed means its message waits or was lost.
    claimed_at = models.DateTimeField("最近开始处理时间", null=True, blank=True)
    attempts = models.PositiveSmallIntegerField("处理次数", default=0)
    processed_at = models.DateTimeField("处理完成时间", null=True, blank=True)
    benefit_start = models.DateField("待遇开始", null=True, blank=True)
    benefit_end = models.DateField("待遇结束", null=True, blank=True)
    waiting_until = models.DateField("待遇等待期至", null=True, blank=True)
    # The account's day: when it was created, or (waiting) the day after the waiting period.
    account_on = models.DateField("建账日期", null=True, blank=True)
    voucher_from = models.DateTimeField("可申领医保电子凭证时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "参保确认申请"
        ordering = ["-submitted_at"]
        constraints = [
            # One live application per person and year, whichever channel or school; a failed
            # one may be followed by a new application once the record is corrected.
            models.UniqueConstraint(
                fields=["id_number", "policy_year"],
                condition=~Q(state="failed"),
                name="one_live_application_per_person_year",
            ),
            models.CheckConstraint(
                condition=Q(channel="self") | Q(confirmed_by__isnull=False),
                name="on_behalf_names_who_confirmed",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "last_queued_at"]),
            # Every submission looks up the person's applications for the year, failed ones too.
            models.Index(fields=["id_number", "policy_year"]),
            # /readyz, every few seconds: the oldest application still waiting for its account.
            models.Index(
                fields=["submitted_at"],
                condition=Q(state="pending"),
                name="application_pending_since",
            ),
            # The accounts beat: waiting periods whose account day has come.
            models.Index(
                fields=["account_on"],
                condition=Q(state="waiting"),
                name="application_waiting_until",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approval_number} {self.get_state_display()}"

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING

    @property
    def is_waiting(self) -> bool:
        return self.state == self.State.WAITING

    @property
    def confirmed_on(self) -> dt.date:
        """The day of the confirmation: a waiting period starts on it."""
        return timezone.localdate(self.submitted_at)


class SignedPledge(models.Model):
    """The pledge as the student saw and signed it; never changed after it is written."""

    application = models.OneToOneField(
        Application, verbose_name="建账申请", on_delete=models.PROTECT, related_name="pledge"
    )
    text = models.TextField("承诺书全文（签署时所见）")
    version = models.PositiveIntegerField("承诺书版本")
    signature_png = models.BinaryField("手写签名（PNG）")
    signed_at = models.DateTimeField("签署时间")
    channel = models.CharField("渠道", max_length=10, choices=Application.Channel)
    client_ip = models.GenericIPAddressField("客户端 IP", null=True, blank=True)
    user_agent = models.CharField("浏览器标识", max_length=500, blank=True)
    content_hash = models.CharField("内容摘要（SHA-256）", max_length=64)

    class Meta:
        verbose_name = verbose_name_plural = "已签承诺书"

    def __str__(self) -> str:
        return f"{self.application.approval_number} v{self.version}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("a signed pledge cannot be changed")
        self.content_hash = self.compute_hash()
        super().save(*args, **kwargs)

    def compute_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (
            self.text,
            str(self.version),
            self.signed_at.isoformat(),
            self.channel,
            self.client_ip or "",
            self.user_agent,
        ):
            digest.update(part.encode())
            digest.update(b"\x1f")
        digest.update(bytes(self.signature_png))
        return digest.hexdigest()

    @property
    def is_intact(self) -> bool:
        return self.compute_hash() == self.content_hash


class CoverageRecord(models.Model):
    """The existing-coverage registry the built-in gateway checks (imported by city administrators)."""

    class Kind(models.TextChoices):
        CITY_RESIDENT = "city_resident", "本市居民医保（少儿或普通居民）"
        EMPLOYEE = "employee", "职工医保"
        LAPSED = "lapsed", "断保（入学前一年未参加基本医保）"

    id_number = models.CharField("证件号码", max_length=30, unique=True)
    name = models.CharField("姓名", max_length=30)
    kind = models.CharField("参保情况", max_length=20, choices=Kind)
    gap_years = models.PositiveSmallIntegerField("断保年数", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "既有参保登记"

    def __str__(self) -> str:
        return f"{self.name} {self.get_kind_display()}"


class InsuranceAccount(models.Model):
    """A resident medical-insurance account as the built-in gateway keeps it."""

    id_number = models.CharField("证件号码", max_length=30, unique=True)
    name = models.CharField("姓名", max_length=30)
    status = models.CharField("参保身份", max_length=20, default="大学生")
    converted_from = models.CharField("转换前身份", max_length=30, blank=True)
    application = models.OneToOneField(
        Application,
        verbose_name="建账申请",
        on_delete=models.PROTECT,
        related_name="account",
        null=True,
    )
    created_at = models.DateTimeField("建账时间", auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "居民医保账户"

    def __str__(self) -> str:
        return f"{self.name} {self.status}"


class BatchConfirmation(models.Model):
    """A filer's confirmation on behalf of many students, processed by a worker."""

    class State(models.TextChoices):
        QUEUED = "queued", "排队中"
        RUNNING = "running", "正在确认"
        DONE = "done", "已完成"

    id = models.UUIDField("编号", primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="代确认人",
        on_delete=models.PROTECT,
        related_name="batch_confirmations",
    )
    policy_year = models.ForeignKey(PolicyYear, verbose_name="政策年度", on_delete=models.PROTECT)
    paper_pledges_attested = models.BooleanField("已收到纸质承诺书")
    source = models.CharField("来源", max_length=100)
    record_ids = models.JSONField("所选记录", default=list)
    state = models.CharField("状态", max_length=10, choices=State, default=State.QUEUED)
    processed = models.PositiveIntegerField("已处理", default=0)
    results = models.JSONField("结果", default=dict, blank=True)
    created_at = models.DateTimeField("提交时间", auto_now_add=True)
    last_queued_at = models.DateTimeField("最近排队时间", default=timezone.now)
    finished_at = models.DateTimeField("完成时间", null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "批量代确认"
        ordering = ["-created_at"]
        indexes = [
            # /readyz, every few seconds: the oldest batch not yet done.
            models.Index(
                fields=["created_at"],
                condition=Q(state__in=["queued", "running"]),
                name="batch_unfinished_since",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.created_by} {self.created_at:%Y-%m-%d %H:%M} ({len(self.record_ids)})"

    @property
    def total(self) -> int:
        return len(self.record_ids)


class Reminder(models.Model):
    """Reminders sent to students in scope who have not confirmed.

    Texted by a worker in `record_ids` order; `processed` is how far it got, so a copy that
    resumes (the sweeper's, or the broker's redelivery) starts after the last student texted.
    """

    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="发送人", on_delete=models.PROTECT
    )
    school = models.ForeignKey("schools.School", verbose_name="院校", on_delete=models.PROTECT)
    recipients = models.PositiveIntegerField("发送人数", default=0)
    record_ids = models.JSONField("提醒的记录", default=list)  # one reminder per student a day
    created_at = models.DateTimeField("发送时间", auto_now_add=True)
    last_queued_at = models.DateTimeField("最近排队时间", default=timezone.now)
    # The lease: a worker sets it before its first text and renews it after each one, so a
    # second copy of the task leaves the reminder alone while the first is alive.
    claimed_at = models.DateTimeField("最近开始处理时间", null=True, blank=True)
    processed = models.PositiveIntegerField("已处理人数", default=0)
    delivered_at = models.DateTimeField("短信发完时间", null=True, blank=True)

    # A student is reminded at most once in this long; a reminder not sent within it is not
    # sent at all, since the desk may by then have reminded the same students again.
    INTERVAL = dt.timedelta(hours=24)

    class Meta:
        verbose_name = verbose_name_plural = "确认提醒"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.school} {self.created_at:%Y-%m-%d %H:%M} ({self.recipients})"

    @property
    def delivery_state(self) -> str:
        """For staff: whether the texts went out (the sweeper sends a pending one)."""
        if self.delivered_at is not None:
            return "已发送"
        if self.created_at < timezone.now() - self.INTERVAL:
            return "未发送（已超过 24 小时）"
        return "待发送"


class OneTimeCode(models.Model):
    """One identify request: the codes sent for a name and ID number, kept only as hashes.

    Each delivery is one code to one roster phone and names the records that carry that phone:
    verifying that code binds the student's session to those records and no others. A request
    whose name and ID number match no roster has no deliveries and can never be verified.
    """

    id_number_hash = models.CharField(max_length=64, db_index=True)
    # The name and ID number together: the per-person quota counts these, so a request with
    # someone's ID number and a wrong name never uses up the real student's quota.
    pair_hash = models.CharField(max_length=64, default="")
    deliveries = models.JSONField(default=list)  # [{"code_hash": …, "record_ids": [...]}]
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["client_ip", "created_at"]),
            models.Index(fields=["pair_hash", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"code {self.pk} ({'used' if self.used_at else 'open'})"
