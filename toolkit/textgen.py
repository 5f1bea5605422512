"""Generated text for synthetic lines: numbers, dates, prices, Latin words, mixed and random strings.

The bundled corpora are running text; what users read also holds order numbers, dates, prices,
phone numbers, product codes, English words between Chinese ones and punctuation-heavy lines,
and chars in no context a language model could guess. Each kind of :data:`KINDS` makes such
strings from a ``numpy.random.Generator`` only, so a seeded generator gives the same strings:

- ``number``: integers, thousands separators, decimals, signs, ranges, ordinals (``第12名``),
  Chinese magnitudes (``3.5亿``).
- ``date``: ``2024年6月18日``, ``2024-06-18``, ``2024/6/18``, ``二〇二四年六月十八日``, weekdays.
- ``time``: ``14:30``, ``08:05:59``, ``下午3点15分``, ``14时30分``, durations, time ranges.
- ``price``: ``￥128.00``, ``¥5,999``, ``128元``, ``3.5元/斤``, ``$19.99``, ``€25``, ``£8.50``.
- ``percent``: ``12.5%``, ``同比增长8.1%``, ``15％``, ``98‰``, ``50%-60%``.
- ``phone``: mobile and landline groups (``138 1234 5678``, ``010-12345678``, ``+86 ...``),
  postcodes, service numbers.
- ``latin``: English words (:data:`LATIN_WORDS`, a list made for this module) in lower,
  capitalized or upper case, acronyms, version strings, file names, e-mail and web addresses.
- ``mixed``: Chinese words (:data:`CHINESE_WORDS`) with Latin words, digits and units:
  ``型号：AB-1234``, ``第3章 Python入门``, ``共12页``; options and names inside a Chinese clause
  (``文件使用 -x 选项``) and half-width ``.,;:`` after hanzi.
- ``identifier``: letters drawn uniformly, not words, in the forms of code and commands:
  ``snake_case``, ``CamelCase``, ``-x`` and ``--long-option``, ``call(arg)``, ``a/b/c`` paths,
  upper-case codes and letter-digit strings, so Latin letters must be read by their shapes.
- ``punct``: short Chinese or Latin phrases wrapped and separated by many marks:
  ``《报告》（草案）：说明！``, ``“为什么？”……``.
- ``random``: chars drawn uniformly from a given char list (e.g. a charset), so that a model
  cannot read them with a language prior.

Digits (and, in ``latin`` and ``identifier``, letters) are sometimes written in full-width
forms (``２０２４``): the image then shows the wide glyphs while the label, folded by
:func:`toolkit.charset.normalize_text`, holds ASCII. Every char a kind emits, once folded, lies
in the bundled charset (``char_dict/``).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

FULLWIDTH_PROB = 0.1
"""Chance that a generated string's digits (and, for ``latin`` and ``identifier``, letters) are
drawn full-width."""

_WIDE_LETTER_KINDS = frozenset({"latin", "identifier"})  # kinds whose letters FULLWIDTH_PROB widens

LATIN_WORDS = tuple("""
the of and to in is for on with as at by from or an be this that it are was not but all can
new more one about time year day work home page data user file text line book read write open
close start stop next back first last about help free best good great high low big small long
short fast slow hot cold red blue green black white gold silver light dark power energy water
fire earth air city world country market price order number total value model type size color
style design system network server client service online offline video audio image photo
music movie news report sales share stock bank money credit card account login password email
phone mobile address street road center office school college student teacher class lesson
test exam score level group team member project plan idea note list table chart map graph
search find sort filter select edit copy paste save print send receive upload download update
version release build code program software hardware computer laptop tablet screen keyboard
mouse camera printer battery charger cable wireless cloud storage memory disk folder window
door room house hotel food drink coffee tea milk juice bread rice fruit apple orange banana
lemon cake pizza menu restaurant kitchen doctor nurse hospital health care safety travel trip
ticket flight train bus taxi car bike station airport gate seat week month today tomorrow
morning evening night spring summer autumn winter happy thank please welcome hello sorry yes
no okay sale discount gift shop store brand quality product customer support contact manager
director company limited group china beijing shanghai river mountain garden park museum
""".split())
"""Common English words (a list made for this module; any Latin text is drawn from it)."""

ACRONYMS = ("CPU", "GPU", "USB", "PDF", "HTML", "HTTP", "WiFi", "AI", "OCR", "ID", "VIP", "APP",
            "LED", "GPS", "DNA", "CEO", "NBA", "MBA", "PPT", "SUV", "ATM", "CD", "DVD", "TV",
            "SMS", "QQ", "5G", "4K", "A4", "B2B", "IT", "KTV", "MP3", "PM2.5")

CHINESE_WORDS = tuple("""
价格 数量 订单 编号 电话 地址 时间 日期 版本 型号 规格 颜色 尺寸 重量 金额 合计 总计 单价 折扣
优惠 会员 用户 客户 公司 有限 部门 经理 学校 学生 老师 医院 医生 银行 账户 密码 登录 注册 下载
上传 文件 图片 视频 音乐 新闻 报告 通知 会议 项目 计划 系统 网络 手机 电脑 软件 数据 信息 服务
产品 质量 安全 健康 天气 温度 湿度 城市 北京 上海 广州 深圳 中国 世界 市场 经济 发展 技术 研究
教育 文化 旅游 酒店 机场 车站 航班 车票 门票 座位 房间 楼层 街道 小区 今天 明天 昨天 上午 下午
晚上 星期 每天 每月 我们 你们 他们 她们 您好 谢谢 请问 欢迎 注意 提示 说明 备注 第 共 约 超过
不到 以上 以下 左右 增长 下降 同比 环比 最高 最低 平均 大约 已经 正在 可以 需要 使用 支持 提供
""".split())
"""Common modern Chinese words (a list made for this module) used by ``mixed`` and ``punct``."""

UNITS = ("个", "件", "台", "张", "页", "次", "米", "公里", "千克", "克", "吨", "元", "人", "本",
         "辆", "套", "份", "箱", "瓶", "号", "层", "室", "岁", "天", "小时", "分钟", "mm", "cm",
         "km", "kg", "GB", "MB", "℃", "°")

_CN_DIGITS = "〇一二三四五六七八九"
_WEEKDAYS = "一二三四五六日"
_FULLWIDTH_SHIFT = 0xFF10 - ord("0")


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _int(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def _grouped(value: int) -> str:
    return f"{value:,}"


def _decimal(rng: np.random.Generator, hi: int, places: int) -> str:
    return f"{rng.uniform(0, hi):.{places}f}"


def _widen(text: str, letters: bool = False) -> str:
    """Digits (and ASCII letters if ``letters``) of ``text`` in their full-width forms."""
    return "".join(chr(ord(c) + _FULLWIDTH_SHIFT)
                   if c.isdigit() and c.isascii() or letters and c.isascii() and c.isalpha()
                   else c for c in text)


def _cn_number(value: int) -> str:
    """``value`` (0..99) in Chinese numerals as dates write it: 十八, 二十, 三十一."""
    tens, ones = divmod(value, 10)
    if tens == 0:
        return _CN_DIGITS[ones]
    return (_CN_DIGITS[tens] if tens > 1 else "") + "十" + (_CN_DIGITS[ones] if ones else "")


def _number(rng: np.random.Generator) -> str:
    form = _int(rng, 0, 8)
    if form == 0:
        return str(_int(rng, 0, 99999))
    if form == 1:
        return _grouped(_int(rng, 1000, 99999999))
    if form == 2:
        return _decimal(rng, 1000, _int(rng, 1, 3))
    if form == 3:
        return _pick(rng, ("-", "+", "±")) + _decimal(rng, 100, 1)
    if form == 4:
        a = _int(rng, 1, 500)
        return f"{a}{_pick(rng, ('-', '～', '~', '—', '至'))}{a + _int(rng, 1, 500)}"
    if form == 5:
        return f"第{_int(rng, 1, 200)}{_pick(rng, ('名', '章', '节', '条', '页', '期', '届', '次'))}"
    if form == 6:
        return f"{_decimal(rng, 100, 1)}{_pick(rng, ('万', '亿', '千', '百万'))}"
    if form == 7:
        return f"{_int(rng, 1, 999)}{_pick(rng, UNITS)}"
    return f"No.{_int(rng, 1, 99999)}"


def _date(rng: np.random.Generator) -> str:
    y, m, d = _int(rng, 1900, 2035), _int(rng, 1, 12), _int(rng, 1, 28)
    form = _int(rng, 0, 7)
    if form == 0:
        return f"{y}年{m}月{d}日"
    if form == 1:
        return f"{y}-{m:02d}-{d:02d}"
    if form == 2:
        return f"{y}/{m}/{d}"
    if form == 3:
        return f"{y}.{m:02d}.{d:02d}"
    if form == 4:
        return f"{m}月{d}日（{_pick(rng, ('星期', '周'))}{_pick(rng, _WEEKDAYS)}）"
    if form == 5:
        return "".join(_CN_DIGITS[int(c)] for c in str(y)) + f"年{_cn_number(m)}月{_cn_number(d)}日"
    if form == 6:
        return f"{y}年{m}月"
    return f"{_pick(rng, ('公元前', '公元'))}{_int(rng, 1, 2000)}年"


def _time(rng: np.random.Generator) -> str:
    h, mi, s = _int(rng, 0, 23), _int(rng, 0, 59), _int(rng, 0, 59)
    form = _int(rng, 0, 5)
    if form == 0:
        return f"{h:02d}:{mi:02d}"
    if form == 1:
        return f"{h:02d}:{mi:02d}:{s:02d}"
    if form == 2:
        return f"{_pick(rng, ('上午', '下午', '晚上', '凌晨'))}{_int(rng, 1, 12)}点{mi}分"
    if form == 3:
        return f"{h}时{mi}分"
    if form == 4:
        return f"{_int(rng, 1, 48)}小时{mi}分钟"
    return f"{h:02d}:{mi:02d}-{min(23, h + _int(rng, 1, 4)):02d}:{mi:02d}"


def _price(rng: np.random.Generator) -> str:
    amount = _pick(rng, (str(_int(rng, 1, 9999)), _decimal(rng, 999, 2),
                         _grouped(_int(rng, 1000, 999999))))
    form = _int(rng, 0, 6)
    if form == 0:
        return f"￥{amount}"
    if form == 1:
        return f"¥{amount}"
    if form == 2:
        return f"{amount}元"
    if form == 3:
        return f"{_decimal(rng, 50, 1)}元/{_pick(rng, ('斤', '千克', '个', '件', '月', '人', '小时'))}"
    if form == 4:
        return f"{_pick(rng, ('$', '€', '£', 'US$', 'HK$'))}{amount}"
    if form == 5:
        return f"{_pick(rng, ('售价', '原价', '单价', '合计', '总价'))}：￥{amount}"
    return f"人民币{amount}元"


def _percent(rng: np.random.Generator) -> str:
    value = _pick(rng, (str(_int(rng, 0, 100)), _decimal(rng, 100, 1), _decimal(rng, 10, 2)))
    form = _int(rng, 0, 4)
    if form == 0:
        return f"{value}%"
    if form == 1:
        return f"{_pick(rng, ('同比增长', '环比下降', '增长', '下降', '上涨', '占比'))}{value}%"
    if form == 2:
        return f"{value}％"
    if form == 3:
        return f"{_int(rng, 1, 999)}‰"
    a = _int(rng, 1, 80)
    return f"{a}%-{a + _int(rng, 1, 20)}%"


def _digits(rng: np.random.Generator, count: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, count))


def _phone(rng: np.random.Generator) -> str:
    mobile = "1" + _pick(rng, "3456789") + _digits(rng, 9)
    form = _int(rng, 0, 6)
    if form == 0:
        return mobile
    if form == 1:
        return f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    if form == 2:
        return f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    if form == 3:
        return f"0{_digits(rng, _int(rng, 2, 3))}-{_digits(rng, 8)}"
    if form == 4:
        return f"({_pick(rng, ('010', '021', '020', '0755', '028'))}) {_digits(rng, 4)} {_digits(rng, 4)}"
    if form == 5:
        return f"{_pick(rng, ('400', '800'))}-{_digits(rng, 3)}-{_digits(rng, 4)}"
    label = _pick(rng, ("电话", "手机", "邮编", "传真", "热线"))
    return f"{label}：{_digits(rng, 6 if rng.random() < 0.3 else 11)}"


def _cased(rng: np.random.Generator, word: str) -> str:
    form = _int(rng, 0, 5)
    return word.capitalize() if form < 2 else word.upper() if form == 2 else word


def _latin(rng: np.random.Generator) -> str:
    form = _int(rng, 0, 6)
    if form <= 2:
        return " ".join(_cased(rng, _pick(rng, LATIN_WORDS)) for _ in range(_int(rng, 1, 4)))
    if form == 3:
        return _pick(rng, ACRONYMS)
    if form == 4:
        return f"v{_int(rng, 0, 12)}.{_int(rng, 0, 20)}.{_int(rng, 0, 99)}"
    if form == 5:
        return (f"{_pick(rng, LATIN_WORDS)}_{_int(rng, 1, 2030)}."
                f"{_pick(rng, ('pdf', 'docx', 'xlsx', 'jpg', 'png', 'txt', 'zip'))}")
    if rng.random() < 0.5:
        return f"{_pick(rng, LATIN_WORDS)}.{_pick(rng, LATIN_WORDS)}@example.com"
    return f"www.{_pick(rng, LATIN_WORDS)}{_int(rng, 1, 99)}.{_pick(rng, ('com', 'cn', 'org', 'net'))}"


_TECH_VERBS = ("使用", "用", "设置", "调用", "返回", "指定", "见", "或")


def _mixed(rng: np.random.Generator) -> str:
    cn, latin = _pick(rng, CHINESE_WORDS), _pick(rng, LATIN_WORDS)
    form = _int(rng, 0, 9)
    if form == 0:
        return f"{cn}{_int(rng, 1, 999)}{_pick(rng, UNITS)}"
    if form == 1:
        return f"{_cased(rng, latin)}{cn}"
    if form == 2:
        return f"第{_int(rng, 1, 30)}章 {latin.capitalize()}{_pick(rng, CHINESE_WORDS)}"
    if form == 3:
        return f"{_pick(rng, ('型号', '编号', '批号', '货号'))}：{latin[:2].upper()}-{_digits(rng, 4)}"
    if form == 4:
        return f"{cn}（{_cased(rng, latin)}）"
    if form == 5:
        return f"共{_int(rng, 2, 500)}{_pick(rng, ('页', '条', '项', '人', '件'))}"
    if form == 6:
        return f"{_pick(rng, ACRONYMS)}{cn}"
    if form == 7:
        # An option, a name or a code inside a Chinese clause, as technical prose writes them.
        return f"{cn}{_pick(rng, _TECH_VERBS)} {_identifier(rng)} {_pick(rng, CHINESE_WORDS)}"
    if form == 8:
        # Half-width punctuation after hanzi, as much Chinese technical writing has it.
        return f"{cn}{_pick(rng, CHINESE_WORDS)}{_pick(rng, '.,;:')}"
    return f"{cn}{_number(rng)}"


def _letters(rng: np.random.Generator, lo: int, hi: int) -> str:
    return "".join(_pick(rng, string.ascii_lowercase) for _ in range(_int(rng, lo, hi)))


def _identifier(rng: np.random.Generator) -> str:
    # Letter strings drawn uniformly (no word list, so no language prior: l, i, I, 1 and O, 0
    # can only be told apart by their shapes) in the forms code, commands and names take.
    form = _int(rng, 0, 6)
    if form == 0:
        return "_".join(_letters(rng, 1, 6) for _ in range(_int(rng, 1, 3)))
    if form == 1:
        return "".join(_letters(rng, 1, 5).capitalize() for _ in range(_int(rng, 1, 3)))
    if form == 2:
        return (f"-{_pick(rng, string.ascii_letters)}" if rng.random() < 0.4
                else "--" + "-".join(_letters(rng, 2, 6) for _ in range(_int(rng, 1, 2))))
    if form == 3:
        return f"{_letters(rng, 2, 8)}({_letters(rng, 0, 4)})"
    if form == 4:
        return "/".join(_letters(rng, 1, 6) for _ in range(_int(rng, 2, 3)))
    if form == 5:
        return _letters(rng, 2, 8).upper()
    return "".join(_pick(rng, string.ascii_letters + string.digits) for _ in range(_int(rng, 2, 8)))


_PAIRS = ("《》", "（）", "【】", "“”", "‘’", "「」", "〔〕", "()", "[]", "<>", "\"\"", "''", "{}")
_MARKS = "，。、；：！？……——·～/|-_=+*&#@^\\"


def _punct(rng: np.random.Generator) -> str:
    word = _pick(rng, CHINESE_WORDS) if rng.random() < 0.8 else _pick(rng, LATIN_WORDS)
    form = _int(rng, 0, 3)
    if form == 0:
        pair = _pick(rng, _PAIRS)
        return f"{pair[0]}{word}{pair[1]}{_pick(rng, _MARKS)}"
    if form == 1:
        return f"{word}{_pick(rng, ('……', '——', '！？', '？！', '：', '；', '、'))}"
    if form == 2:
        return f"“{word}{_pick(rng, '？！。，')}”"
    return "".join(_pick(rng, _MARKS) for _ in range(_int(rng, 1, 3))) + word


_MAKERS: dict[str, Callable[[np.random.Generator], str]] = {
    "number": _number, "date": _date, "time": _time, "price": _price, "percent": _percent,
    "phone": _phone, "latin": _latin, "mixed": _mixed, "identifier": _identifier,
    "punct": _punct,
}

KINDS: tuple[str, ...] = (*_MAKERS, "random")
"""The generated kinds, see the module docstring."""

_JOINERS = (" ", " ", "，", "、", "；", "")


@dataclass(frozen=True)
class TextGenerator:
    """Makes strings of one kind of :data:`KINDS`.

    Attributes:
        kind: a name from :data:`KINDS`.
        chars: the chars ``random`` draws from, uniformly (e.g. a charset's chars, space left
            out); the other kinds ignore it.

    Raises:
        ValueError: from ``__post_init__`` for an unknown kind (names the known ones), or
            ``random`` with no chars.
    """

    kind: str
    chars: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown generated text kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind == "random" and not self.chars.strip():
            raise ValueError("generated kind 'random' needs chars to draw from (e.g. a charset)")

    def __call__(self, rng: np.random.Generator, min_chars: int, max_chars: int) -> str:
        """One string of about ``min_chars`` to ``max_chars`` chars.

        A target length is drawn uniformly in ``[min_chars, max_chars]``; ``random`` draws that
        many chars, the other kinds join items (``2024年6月18日``, ``￥128``) with a space, a
        Chinese comma or nothing until the target is reached, and a string longer than
        ``max_chars`` is cut to ``max_chars`` (a crop, as a line cut out of a longer text). Ends
        are stripped, so the result may be a char or two shorter than ``min_chars``.

        Returns:
            The string as it is drawn (full-width digits unfolded; fold the label with
            :func:`toolkit.charset.normalize_text`).
        """
        target = _int(rng, min_chars, max_chars)
        if self.kind == "random":
            codes = rng.integers(len(self.chars), size=target)
            return "".join(self.chars[int(k)] for k in codes).strip() or self.chars.strip()[0]
        make = _MAKERS[self.kind]
        wide = rng.random() < FULLWIDTH_PROB
        text = make(rng)
        while len(text) < target:
            text += _pick(rng, _JOINERS) + make(rng)
        text = text[:max_chars].strip()
        return _widen(text, letters=self.kind in _WIDE_LETTER_KINDS) if wide else text
