"""Deterministic, valid demo rosters: for `seed_demo`, the tests and the benchmark.

The people are invented; their ID numbers carry correct check characters and birth dates.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from enrollment import rules

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉宇浩凯健俊帆帅旭宁欣怡佳雨晨梓涵子轩思彤诗琪嘉一博文昊然睿泽语嫣若曦"
REGIONS = [
    ("310104", "本市"),
    ("310112", "本市"),
    ("320102", "江苏省南京市"),
    ("330106", "浙江省杭州市"),
    ("340104", "安徽省合肥市"),
    ("420106", "湖北省武汉市"),
    ("510107", "四川省成都市"),
    ("440305", "广东省深圳市"),
]
COLLEGES = [
    ("信息学院", ["信息管理与信息系统", "计算机科学与技术", "软件工程"]),
    ("经济管理学院", ["会计学", "金融学", "工商管理"]),
    ("外国语学院", ["英语", "日语"]),
    ("医学院", ["临床医学", "护理学"]),
]


def make_id_number(region: str, birth: dt.date, sequence: int, *, male: bool) -> str:
    """An 18-character resident ID with a valid GB 11643 check character."""
    order = (sequence % 500) * 2 + (1 if male else 0)
    first_17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first_17 + rules.id_check_character(first_17)


def demo_rows(
    count: int,
    *,
    school_code: str,
    campus_codes: Sequence[str],
    year: int,
    seed: int = 2023,
    start: int = 0,
) -> list[dict[str, str]]:
    """`count` valid roster rows, keyed by template header, all as text."""
    rng = random.Random(seed)
    rows = []
    for index in range(start, start + count):
        region, origin = REGIONS[index % len(REGIONS)]
        male = rng.random() < 0.5
        birth = dt.date(year - 18, 1, 1) + dt.timedelta(days=rng.randrange(0, 700))
        # Vary the region per block of 1,000 so ID numbers stay unique in large rosters (the
        # county digits per 1,000 rows, the city digit per 100,000: rows repeat their draws).
        block = index // 1000
        city = (int(region[3]) + block // 100) % 10
        region_code = f"{region[:3]}{city}{(int(region[4:]) + block) % 100:02d}"
        id_number = make_id_number(region_code, birth, index, male=male)
        college, majors = COLLEGES[index % len(COLLEGES)]
        registered = dt.date(year, 8, 25) + dt.timedelta(days=rng.randrange(0, 40))
        rows.append(
            {
                "姓名": rng.choice(SURNAMES)
                + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                "证件类型": "1",
                "证件号码": id_number,
                "原户籍地": origin,
                "出生日期": f"{birth:%Y%m%d}",
                "民族": "汉族" if index % 9 else "回族",
                "性别": "1" if male else "2",
                "学院": college,
                "专业": majors[index % len(majors)],
                "学号": f"{year}{index + 1:06d}",
                "学历": "4" if index % 10 == 0 else "1",
                "总分校编码": campus_codes[index % len(campus_codes)],
                "报到注册日期": f"{registered:%Y%m%d}",
                "状态": "00",
                "联系地址": f"上海市闵行区东川路{800 + index % 200}号",
                "联系邮编": "200240",
                "联系电话": f"139{index + 10000000:08d}",
                "参保意愿": "1",
            }
        )
    return rows


def roster_workbook(
    rows: Iterable[dict[str, object]], *, headers: Sequence[str] = rules.HEADERS
) -> bytes:
    """An .xlsx roster with the given rows, every value written as a text cell."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("新生名单")
    sheet.append(list(headers))
    for row in rows:
        cells = []
        for header in headers:
            value = row.get(header)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
