#!/usr/bin/env python3
"""Build the bundled font library ``fonts/``: subsets of redistributable Chinese faces, a manifest
(``fonts/fonts.json``) and the licence texts.

Sources (each pinned by version and sha256 in ``SOURCES``; ``fonts/README.md`` lists them):

- Debian 12 packages, fetched with ``apt-get download PKG=VERSION`` and unpacked with
  ``dpkg-deb -x``: Noto Sans/Serif CJK (and their extra weights), Fandol (in
  ``texlive-lang-chinese``), cwTeX, AR PL UKai/UMing, WenQuanYi Zen Hei, Smiley Sans, Seto, and
  the Latin faces DejaVu, TeX Gyre and GNU FreeFont.
- npm fontsource packages, fetched with ``npm pack @fontsource/NAME@VERSION``: their WOFF2 files
  are unicode-range slices of one face, merged back into one face with ``fontTools.merge``.

Every face is cut with ``fontTools.subset`` to the font subset (``subset_codepoints``): the Song ci
corpus chars, GB 2312's 6,763 hanzi, printable ASCII, CJK Symbols and Punctuation, the full-width
forms, and the general punctuation, arrows, circled numbers and symbols of ``SUBSET_RANGES`` /
``SUBSET_EXTRA``. Chars whose glyph draws nothing (``toolkit.fonts.empty_codepoints``) are left out of
the subset's cmap, so no renderer takes an empty glyph for a drawn char. Hinting is dropped, layout
keeps the horizontal and vertical CJK features and the default and ``ZHS`` language systems, and the
``head`` timestamps of the source are kept (same inputs, same bytes).

Output format: the four Noto faces that the toolkit shipped first keep their names,
``fonts/Noto{Sans,Serif}SC-{Regular,Bold}.otf`` (plain OpenType). Every other face is written as WOFF2
with brotli only and no glyf/loca transform: Pillow's FreeType reads WOFF2 directly, but the toolkit
renders from a decompressed copy (``toolkit.fonts.plain_sfnt``), and fontTools decodes a transformed
glyf table in pure Python in 14-25 s per face against 0.2-0.4 s without the transform, for files only
5-17% larger (measured on four faces of this library).

Faces marked ``heldout`` go to ``fonts/heldout/``, which the training default (the top level of
``fonts/``) does not include: they are the unseen-font test. The Latin text faces (DejaVu,
TeX Gyre, FreeFont; style ``latin``) go to ``fonts/latin/``: gen-images never draws a whole line in
them, only, with ``SynthConfig.latin_face_prob``, the ASCII chars of a line whose other chars a
Chinese face draws.

Usage (from the repository root; needs apt-get, dpkg-deb, npm, fontTools and brotli)::

    python tools/build_fonts.py                      # fetch, build every face, write the manifest
    python tools/build_fonts.py --only LongCang-Regular.woff2   # rebuild one face (and the manifest)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing: the toolkit's coverage check

from toolkit.charset import named_set  # noqa: E402 - after the sys.path line above
from toolkit.fonts import LATIN_STYLE, STYLES, empty_codepoints  # noqa: E402

MANIFEST_FORMAT_VERSION = 1
DEFAULT_WORK_DIR = Path("/tmp/crnn-toolkit-fonts")

# The font subset besides the corpus chars and GB 2312 (inclusive code point ranges).
SUBSET_RANGES = (
    (0x0020, 0x007E),  # printable ASCII
    (0x3000, 0x303F),  # CJK Symbols and Punctuation
    (0xFF01, 0xFF5E),  # full-width forms
    (0xFFE5, 0xFFE5),  # full-width yen sign
    (0x2010, 0x2027),  # dashes, quotation marks, bullets, ellipsis
    (0x2030, 0x203B),  # per mille, primes, reference mark
    (0x2190, 0x2193),  # arrows
    (0x2460, 0x2473),  # circled numbers 1-20
)
SUBSET_EXTRA = "£¥§©®°±·×÷℃№™€"

# Features for basic horizontal text (ccmp, liga, calt, kern, mark, and the CJK spacing
# features palt/halt) and for vertical text (vert, vrt2, vkrn, vpal, vhal).
LAYOUT_FEATURES = ("ccmp", "locl", "liga", "calt", "kern", "mark", "palt", "halt",
                   "vert", "vrt2", "vkrn", "vpal", "vhal")
# Language systems kept besides each script's default one.
KEEP_LANGSYS = ("ZHS",)


@dataclass(frozen=True)
class Source:
    """A package that holds source faces.

    Attributes:
        kind: ``"deb"`` (a Debian package) or ``"npm"`` (an npm package).
        package: the package name (``@fontsource/NAME`` for npm).
        version: the exact version fetched.
        sha256: of the ``.deb`` file or the npm tarball.
        licence_members: files inside the package copied to ``fonts/licenses/`` (a ``.gz`` is
            decompressed), each becoming ``licenses/<package>.<file name>.txt``.
        extra_licences: files of the build machine copied too (the full GPL texts that Debian
            copyright files point to in ``/usr/share/common-licenses``).
    """

    kind: str
    package: str
    version: str
    sha256: str
    licence_members: tuple[str, ...]
    extra_licences: tuple[str, ...] = ()


def _deb(package: str, version: str, sha256: str, *members: str, extra: tuple[str, ...] = ()) -> Source:
    return Source("deb", package, version, sha256,
                  members or (f"usr/share/doc/{package}/copyright",), extra)


def _npm(name: str, version: str, sha256: str) -> Source:
    return Source("npm", f"@fontsource/{name}", version, sha256, ("package/LICENSE",))


GPL2 = "/usr/share/common-licenses/GPL-2"
GPL3 = "/usr/share/common-licenses/GPL-3"
SOURCES = {s.package: s for s in (
    _deb("fonts-noto-cjk", "1:20220127+repack1-1",
         "4a2515eb6db3978b897fef9709ed0d2b1f4c6c4df4d83d6c4ef65f71f1b1f502"),
    _deb("fonts-noto-cjk-extra", "1:20220127+repack1-1",
         "5f6536c99f9b3d77a3c383c3f1544f6d49350e7f20832c4c979af0e33f603cb5"),
    _deb("texlive-lang-chinese", "2022.20230122-1",
         "9cfa07bd44e7b9098e26f0ecac1b5ad210d2249d474c8074d53de92d650b0ec0",
         "usr/share/doc/texlive-doc/fonts/fandol/README",
         "usr/share/doc/texlive-doc/fonts/fandol/COPYING.gz"),
    _deb("fonts-cwtex-kai", "1.0-4", "7b0ac26332e88a2f4fd95af076e5a7776af4cf9578042017dafc0a59dbdb8bfc",
         extra=(GPL2,)),
    _deb("fonts-cwtex-yen", "1.0-4", "c400c0c11897adc5d5846833cda6698c2e71f005f0a29f4060cb7b2e0dde8c48",
         extra=(GPL2,)),
    _deb("fonts-cwtex-fs", "1.0-4", "94b4ce9d2fd613e04bcf2e293011ca5099b43d8a8a97c090580fe25d31845850",
         extra=(GPL2,)),
    _deb("fonts-arphic-ukai", "0.2.20080216.2-5",
         "b9db73184895b067f7911f9adbf3b137df99c2d4ec5425b4ad779a9834b7110b"),
    _deb("fonts-arphic-uming", "0.2.20080216.2-11",
         "2676b21b90df94f23418610291b71b43720c95cdccb420b97ab56edfd3ce4cf5"),
    _deb("fonts-wqy-zenhei", "0.9.45-8", "cfed2c29164ff2f133e40ed2046610b172b8618d174840936ac4ec9b6fd668e7",
         extra=(GPL2,)),
    _deb("fonts-smiley-sans", "1.1.1-1", "ee62aac9a4b1dc3a5b414946fbcba5480dc557fe8ac0368342bcb9403e0f5156"),
    _deb("fonts-seto", "6.20-8", "1ce0b6124d635036d64462d7f0bece68d79608713a51d0664d4aa03da882fe2c"),
    _deb("fonts-dejavu-core", "2.37-6", "8892669e51aab4dc56682c8e39d8ddb7d70fad83c369344e1e240bf3ca22bb76"),
    _deb("fonts-texgyre", "20180621-6", "e7230e2dee0030c440ee841de04ef9254aa1fec73ccba93a3e1f637fa868a99a"),
    _deb("fonts-freefont-otf", "20120503-10",
         "0b63996c80c6c660424af6d3832818e647960d6f65a51de010bb57dd0762faa7", extra=(GPL3,)),
    _npm("zcool-kuaile", "5.3.0", "1e708b9f87a9e933e11c9137b4aa891c3e3105beee047ddfe75d23466c887dc1"),
    _npm("zcool-xiaowei", "5.3.0", "da63bdd0b1fe09ca18433ced3033c0ecbcffcfdca09c021206e8076822d28720"),
    _npm("zcool-qingke-huangyou", "5.3.0",
         "fde964d5d311f415ff8ea42bb583b4a68ca4193202b900d7e5314c941f5d95b8"),
    _npm("ma-shan-zheng", "5.3.1", "f441a8e137c210da78e8a287616227b11771ff8bbc4a6e506a0f5f84790ca272"),
    _npm("liu-jian-mao-cao", "5.3.0", "bbffc6b7e13b1e10eff328df1d9b16ba2697b6237b34b67e9aa0450fb0b9a621"),
    _npm("long-cang", "5.3.0", "f37d7fc6e0ed15718e03fe9edd5f8b0117d6d011d23c15bf2d35b7b00f9c4e26"),
    _npm("zhi-mang-xing", "5.3.0", "903fe57d53c97001563dfa380e91c3ceaacc2f65485f93c4741d34470aedb0b9"),
)}


@dataclass(frozen=True)
class Face:
    """One face of the library.

    Attributes:
        out: the output file, relative to ``fonts/`` (``heldout/...`` for a held-out face,
            ``latin/...`` for a Latin face).
        source: the package (a key of ``SOURCES``).
        member: for a deb, the font file inside the package; for npm, the prefix of the fontsource
            file names (``long-cang`` for ``files/long-cang-N-400-normal.woff2``).
        index: the face of a collection (0 for a single font).
        family: the family name the source face must have (name ID 1, checked).
        style: the style class, one of ``toolkit.fonts.STYLES``, or ``toolkit.fonts.LATIN_STYLE``
            for a Latin face (it draws the ASCII chars of mixed lines, ``SynthConfig.latin_face_prob``).
        licence: the licence, as an SPDX expression.
        notes: a word on the design, for the manifest and README.
        weight: the weight class for the manifest when the font's own (OS/2 ``usWeightClass``) is
            wrong (Fandol's Bold faces say 400).
    """

    out: str
    source: str
    member: str
    index: int
    family: str
    style: str
    licence: str
    notes: str = ""
    weight: int | None = None

    @property
    def heldout(self) -> bool:
        return self.out.startswith("heldout/")

    @property
    def latin(self) -> bool:
        return self.out.startswith("latin/")


NOTO = "usr/share/fonts/opentype/noto/"
FANDOL = "usr/share/texlive/texmf-dist/fonts/opentype/public/fandol/"
OFL = "OFL-1.1"
FANDOL_LICENCE = "GPL-3.0 WITH Font-exception-2.0"
GPL2_FE = "GPL-2.0-or-later with a font embedding exception"
DEJAVU = "usr/share/fonts/truetype/dejavu/"
TEXGYRE = "usr/share/texmf/fonts/opentype/public/tex-gyre/"
FREEFONT = "usr/share/fonts/opentype/freefont/"
GUST = "GUST Font License (LPPL-1.3c based)"
FREEFONT_LICENCE = "GPL-3.0-or-later WITH Font-exception-2.0"
FACES = (
    # Song / Ming
    Face("NotoSerifSC-Regular.otf", "fonts-noto-cjk", NOTO + "NotoSerifCJK-Regular.ttc", 2,
         "Noto Serif CJK SC", "song", OFL),
    Face("NotoSerifSC-Bold.otf", "fonts-noto-cjk", NOTO + "NotoSerifCJK-Bold.ttc", 2,
         "Noto Serif CJK SC", "song", OFL),
    Face("NotoSerifSC-Black.woff2", "fonts-noto-cjk-extra", NOTO + "NotoSerifCJK-Black.ttc", 2,
         "Noto Serif CJK SC Black", "song", OFL, "heavy weight"),
    Face("FandolSong-Regular.woff2", "texlive-lang-chinese", FANDOL + "FandolSong-Regular.otf", 0,
         "FandolSong", "song", FANDOL_LICENCE),
    Face("FandolSong-Bold.woff2", "texlive-lang-chinese", FANDOL + "FandolSong-Bold.otf", 0,
         "FandolSong", "song", FANDOL_LICENCE, weight=700),
    # Hei (sans)
    Face("NotoSansSC-Regular.otf", "fonts-noto-cjk", NOTO + "NotoSansCJK-Regular.ttc", 2,
         "Noto Sans CJK SC", "hei", OFL),
    Face("NotoSansSC-Bold.otf", "fonts-noto-cjk", NOTO + "NotoSansCJK-Bold.ttc", 2,
         "Noto Sans CJK SC", "hei", OFL),
    Face("NotoSansSC-Light.woff2", "fonts-noto-cjk-extra", NOTO + "NotoSansCJK-Light.ttc", 2,
         "Noto Sans CJK SC Light", "hei", OFL, "light weight"),
    Face("NotoSansSC-Black.woff2", "fonts-noto-cjk-extra", NOTO + "NotoSansCJK-Black.ttc", 2,
         "Noto Sans CJK SC Black", "hei", OFL, "heavy weight"),
    Face("FandolHei-Regular.woff2", "texlive-lang-chinese", FANDOL + "FandolHei-Regular.otf", 0,
         "FandolHei", "hei", FANDOL_LICENCE),
    Face("FandolHei-Bold.woff2", "texlive-lang-chinese", FANDOL + "FandolHei-Bold.otf", 0,
         "FandolHei", "hei", FANDOL_LICENCE, weight=700),
    # Kai
    Face("FandolKai-Regular.woff2", "texlive-lang-chinese", FANDOL + "FandolKai-Regular.otf", 0,
         "FandolKai", "kai", FANDOL_LICENCE),
    Face("cwTeXKai-Medium.woff2", "fonts-cwtex-kai", "usr/share/fonts/truetype/cwtex/cwkai.ttf", 0,
         "cwTeXKai", "kai", GPL2_FE, "Traditional Chinese Kai: about 65% of GB 2312's hanzi"),
    # FangSong
    Face("FandolFang-Regular.woff2", "texlive-lang-chinese", FANDOL + "FandolFang-Regular.otf", 0,
         "FandolFang R", "fangsong", FANDOL_LICENCE),
    # Rounded
    Face("ZCOOLKuaiLe-Regular.woff2", "@fontsource/zcool-kuaile", "zcool-kuaile", 0,
         "ZCOOL KuaiLe", "rounded", OFL, "rounded, playful"),
    Face("cwTeXYen-Medium.woff2", "fonts-cwtex-yen", "usr/share/fonts/truetype/cwtex/cwyen.ttf", 0,
         "cwTeXYen", "rounded", GPL2_FE, "Traditional Chinese Yuan (rounded): about 65% of GB 2312"),
    # Display
    Face("ZCOOLXiaoWei-Regular.woff2", "@fontsource/zcool-xiaowei", "zcool-xiaowei", 0,
         "ZCOOL XiaoWei", "display", OFL, "high-contrast Song-like display face"),
    Face("ZCOOLQingKeHuangYou-Regular.woff2", "@fontsource/zcool-qingke-huangyou",
         "zcool-qingke-huangyou", 0, "ZCOOL QingKe HuangYou", "display", OFL,
         "condensed geometric display face"),
    Face("SmileySans-Oblique.woff2", "fonts-smiley-sans",
         "usr/share/fonts/truetype/smiley-sans/SmileySans-Oblique.ttf", 0, "Smiley Sans Oblique",
         "display", OFL, "condensed oblique Hei display face"),
    # Brush
    Face("MaShanZheng-Regular.woff2", "@fontsource/ma-shan-zheng", "ma-shan-zheng", 0,
         "Ma Shan Zheng", "brush", OFL, "brush Kai"),
    Face("LiuJianMaoCao-Regular.woff2", "@fontsource/liu-jian-mao-cao", "liu-jian-mao-cao", 0,
         "Liu Jian Mao Cao", "brush", OFL, "cursive (cao shu) brush"),
    # Handwriting
    Face("LongCang-Regular.woff2", "@fontsource/long-cang", "long-cang", 0,
         "Long Cang", "handwriting", OFL, "pen handwriting"),
    Face("SetoFont-Regular.woff2", "fonts-seto", "usr/share/fonts/truetype/seto/setofont.ttf", 0,
         "SetoFont", "handwriting", OFL,
         "Japanese handwriting face; its cmap maps about 1,200 of the subset's chars to empty glyphs"),
    # Latin faces: the ASCII letters, digits and punctuation of a line in a Latin text face, as
    # Chinese documents set them (SynthConfig.latin_face_prob); never drawn for a whole line. Not
    # Liberation: its OFL reserves the names Liberation, Arimo, Tinos and Cousine, so a subset would
    # have to be renamed.
    Face("latin/DejaVuSans.woff2", "fonts-dejavu-core", DEJAVU + "DejaVuSans.ttf", 0, "DejaVu Sans",
         LATIN_STYLE, "Bitstream-Vera", "humanist sans"),
    Face("latin/DejaVuSerif.woff2", "fonts-dejavu-core", DEJAVU + "DejaVuSerif.ttf", 0, "DejaVu Serif",
         LATIN_STYLE, "Bitstream-Vera", "slab-like serif"),
    Face("latin/DejaVuSansMono.woff2", "fonts-dejavu-core", DEJAVU + "DejaVuSansMono.ttf", 0,
         "DejaVu Sans Mono", LATIN_STYLE, "Bitstream-Vera", "monospaced"),
    Face("latin/TeXGyreTermes-Regular.woff2", "fonts-texgyre", TEXGYRE + "texgyretermes-regular.otf", 0,
         "TeXGyreTermes", LATIN_STYLE, GUST, "Times-like"),
    Face("latin/TeXGyreTermes-Bold.woff2", "fonts-texgyre", TEXGYRE + "texgyretermes-bold.otf", 0,
         "TeXGyreTermes", LATIN_STYLE, GUST, "Times-like"),
    Face("latin/TeXGyreHeros-Regular.woff2", "fonts-texgyre", TEXGYRE + "texgyreheros-regular.otf", 0,
         "TeXGyreHeros", LATIN_STYLE, GUST, "Helvetica-like"),
    Face("latin/TeXGyreHeros-Bold.woff2", "fonts-texgyre", TEXGYRE + "texgyreheros-bold.otf", 0,
         "TeXGyreHeros", LATIN_STYLE, GUST, "Helvetica-like"),
    Face("latin/TeXGyrePagella-Regular.woff2", "fonts-texgyre", TEXGYRE + "texgyrepagella-regular.otf", 0,
         "TeX Gyre Pagella", LATIN_STYLE, GUST, "Palatino-like"),
    Face("latin/TeXGyreSchola-Regular.woff2", "fonts-texgyre", TEXGYRE + "texgyreschola-regular.otf", 0,
         "TeXGyreSchola", LATIN_STYLE, GUST, "Century Schoolbook-like"),
    Face("latin/TeXGyreAdventor-Regular.woff2", "fonts-texgyre", TEXGYRE + "texgyreadventor-regular.otf",
         0, "TeX Gyre Adventor", LATIN_STYLE, GUST, "geometric sans, Avant Garde-like"),
    Face("latin/TeXGyreCursor-Regular.woff2", "fonts-texgyre", TEXGYRE + "texgyrecursor-regular.otf", 0,
         "TeXGyreCursor", LATIN_STYLE, GUST, "Courier-like, monospaced"),
    Face("latin/FreeSerif.woff2", "fonts-freefont-otf", FREEFONT + "FreeSerif.otf", 0, "FreeSerif",
         LATIN_STYLE, FREEFONT_LICENCE, "Times-like"),
    Face("latin/FreeSans.woff2", "fonts-freefont-otf", FREEFONT + "FreeSans.otf", 0, "FreeSans",
         LATIN_STYLE, FREEFONT_LICENCE, "Helvetica-like"),
    Face("latin/FreeMono.woff2", "fonts-freefont-otf", FREEFONT + "FreeMono.otf", 0, "FreeMono",
         LATIN_STYLE, FREEFONT_LICENCE, "Courier-like, monospaced"),
    # Held out of training: the unseen-font test
    Face("heldout/ARPLUKaiCN-Book.woff2", "fonts-arphic-ukai", "usr/share/fonts/truetype/arphic/ukai.ttc",
         0, "AR PL UKai CN", "kai", "Arphic-1999"),
    Face("heldout/ARPLUMingCN-Light.woff2", "fonts-arphic-uming",
         "usr/share/fonts/truetype/arphic/uming.ttc", 0, "AR PL UMing CN", "song", "Arphic-1999"),
    Face("heldout/WenQuanYiZenHei-Regular.woff2", "fonts-wqy-zenhei",
         "usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "WenQuanYi Zen Hei", "hei",
         "GPL-2.0 with a font embedding exception"),
    Face("heldout/cwTeXFangSong-Medium.woff2", "fonts-cwtex-fs", "usr/share/fonts/truetype/cwtex/cwfs.ttf",
         0, "cwTeXFangSong", "fangsong", GPL2_FE,
         "Traditional Chinese FangSong: about 65% of GB 2312's hanzi"),
    Face("heldout/ZhiMangXing-Regular.woff2", "@fontsource/zhi-mang-xing", "zhi-mang-xing", 0,
         "Zhi Mang Xing", "brush", OFL, "running-script brush"),
)


# ------------------------------------------------------------------------------------- the subset

def corpus_chars(path: Path) -> set[str]:
    """The distinct chars of a corpus file (line breaks aside)."""
    return set(path.read_text(encoding="utf-8")) - {"\n", "\r"}


def charset_chars(path: Path) -> set[str]:
    """The chars of a ``chinese.txt`` (one per line)."""
    chars = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
    for i, c in enumerate(chars):
        if len(c) != 1:
            raise SystemExit(f"{path}: line {i + 1} is {c!r}, not one char")
    return set(chars)


def subset_codepoints(corpus: set[str], charset: set[str]) -> list[int]:
    """Corpus chars, charset chars, GB 2312 hanzi, ``SUBSET_RANGES`` and ``SUBSET_EXTRA``, sorted."""
    cps = {ord(c) for c in corpus | charset | set(named_set("gb2312")) | set(SUBSET_EXTRA)}
    for lo, hi in SUBSET_RANGES:
        cps.update(range(lo, hi + 1))
    return sorted(cps)


# --------------------------------------------------------------------------------------- sources

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(source: Source, work: Path) -> Path:
    """Download a source package into ``work/dl`` (unless there), check its sha256, return its path."""
    dl = work / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    if source.kind == "deb":
        pattern = f"{source.package}_*.deb"
        found = sorted(dl.glob(pattern))
        if not found:
            subprocess.run(["apt-get", "download", f"{source.package}={source.version}"], cwd=dl,
                           check=True)
            found = sorted(dl.glob(pattern))
    else:
        name = source.package.split("/")[1]
        found = sorted(dl.glob(f"fontsource-{name}-{source.version}.tgz"))
        if not found:
            subprocess.run(["npm", "pack", f"{source.package}@{source.version}"], cwd=dl, check=True,
                           stdout=subprocess.DEVNULL)
            found = sorted(dl.glob(f"fontsource-{name}-{source.version}.tgz"))
    if len(found) != 1:
        raise SystemExit(f"{source.package}: expected one downloaded file in {dl}, found {found}")
    got = sha256_file(found[0])
    if got != source.sha256:
        raise SystemExit(f"{found[0]}: sha256 {got}, expected {source.sha256} for {source.package} "
                         f"{source.version}; delete it to download again, or update SOURCES")
    return found[0]


def unpack(source: Source, work: Path) -> Path:
    """Fetch and unpack a source package into ``work/root/<package>``; return that folder."""
    root = work / "root" / source.package.replace("/", "_")
    if (root / ".done").exists():
        return root
    archive = fetch(source, work)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    if source.kind == "deb":
        subprocess.run(["dpkg-deb", "-x", str(archive), str(root)], check=True)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
    (root / ".done").write_text("", encoding="utf-8")
    return root


def merge_fontsource(root: Path, prefix: str):
    """Merge a fontsource package's regular (400) WOFF2 slices into one face (fontTools.merge).

    The slices are ``files/<prefix>-<N>-400-normal.woff2`` (numbered unicode-range subsets, taken in
    number order) and ``files/<prefix>-latin-400-normal.woff2``. Empty GSUB/GPOS tables (no script
    list), which some slices carry and the merger cannot read, are dropped first.
    """
    from fontTools.merge import Merger
    from fontTools.ttLib import TTFont

    files = root / "package" / "files"
    slice_name = re.compile(rf"{re.escape(prefix)}-(\d+)-400-normal\.woff2")
    numbered = sorted((p for p in files.glob(f"{prefix}-*-400-normal.woff2")
                       if slice_name.fullmatch(p.name)),
                      key=lambda p: int(slice_name.fullmatch(p.name).group(1)))
    latin = files / f"{prefix}-latin-400-normal.woff2"
    if not numbered or not latin.is_file():
        raise SystemExit(f"{files}: no {prefix}-N-400-normal.woff2 slices or no latin slice")
    with tempfile.TemporaryDirectory() as tmp:
        plain = []
        for i, path in enumerate([*numbered, latin]):
            font = TTFont(str(path), recalcTimestamp=False)
            if i == 0:
                stamps = (font["head"].created, font["head"].modified)
            for tag in ("GSUB", "GPOS"):
                if tag in font and font[tag].table.ScriptList is None:
                    del font[tag]
            font.flavor = None
            out = Path(tmp) / f"{i:03d}.ttf"
            font.save(str(out))
            plain.append(str(out))
        merged = Merger().merge(plain)
        # the merger stamps the time of the merge: keep the first slice's, so the output is the same
        # from run to run
        merged["head"].created, merged["head"].modified = stamps
        merged.recalcTimestamp = False
        out = Path(tmp) / "merged.ttf"
        merged.save(str(out))
        return TTFont(str(out), recalcTimestamp=False), len(plain)


def open_source(face: Face, work: Path):
    """Return ``(TTFont, member sha256 or None, description)`` of a face's source."""
    from fontTools.ttLib import TTFont

    source = SOURCES[face.source]
    root = unpack(source, work)
    if source.kind == "npm":
        font, n = merge_fontsource(root, face.member)
        return font, None, f"{n} WOFF2 slices of {source.package} {source.version} merged"
    path = root / face.member
    if not path.is_file():
        raise SystemExit(f"{source.package} {source.version} has no {face.member}")
    font = TTFont(str(path), fontNumber=face.index)
    return font, sha256_file(path), f"{face.member}:{face.index} of {source.package} {source.version}"


# ---------------------------------------------------------------------------------------- subset

def subset_options():
    from fontTools import subset

    options = subset.Options()
    options.layout_features = list(LAYOUT_FEATURES)
    options.hinting = False
    options.desubroutinize = False
    options.notdef_outline = True  # keep the .notdef box so missing chars show as tofu
    options.name_IDs = ["*"]
    options.name_languages = [0x0409]  # English (US) Windows records
    options.name_legacy = False
    options.recalc_timestamp = False
    options.drop_tables += ["FFTM", "BDF", "mort"]  # FontForge's timestamp, bitmaps, old AAT
    return options


def keep_sc_language_systems(font) -> None:
    """Drop the GSUB/GPOS language systems other than the defaults and ``KEEP_LANGSYS``.

    Done before subsetting, so the subsetter's glyph closure does not pull in the glyphs that only
    the dropped language systems (JAN, KOR, ZHT, ZHH) reach through ``locl``.
    """
    for tag in ("GSUB", "GPOS"):
        if tag not in font:
            continue
        script_list = font[tag].table.ScriptList
        for record in script_list.ScriptRecord if script_list else ():
            script = record.Script
            script.LangSysRecord = [r for r in script.LangSysRecord
                                    if r.LangSysTag.strip() in KEEP_LANGSYS]
            script.LangSysCount = len(script.LangSysRecord)


def save(font, out: Path) -> None:
    """Save as plain OpenType (``.otf``/``.ttf``) or as WOFF2 without the glyf/loca transform."""
    from fontTools.ttLib.woff2 import WOFF2FlavorData

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".woff2":
        font.flavor = "woff2"
        font.flavorData = WOFF2FlavorData(transformedTables=())
    else:
        font.flavor = None
    font.recalcTimestamp = False
    font.save(str(out))


def build_face(face: Face, work: Path, out_dir: Path, codepoints: list[int]) -> dict:
    """Subset one face to ``out_dir / face.out``; return its build record for the manifest."""
    from fontTools import subset

    font, member_sha, described = open_source(face, work)
    family = font["name"].getDebugName(1) or ""
    if family != face.family:
        raise SystemExit(f"{described}: family {family!r}, expected {face.family!r}")
    cmap = font.getBestCmap()
    mapped = {cp: cmap[cp] for cp in codepoints if cp in cmap}
    empty = empty_codepoints(font, mapped)
    unicodes = sorted(set(mapped) - empty)

    keep_sc_language_systems(font)
    subsetter = subset.Subsetter(subset_options())
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    out = out_dir / face.out
    save(font, out)
    font.close()
    print(f"{out}: {out.stat().st_size:,} bytes, {len(unicodes):,} code points "
          f"({len(empty)} empty glyphs dropped) from {described}", flush=True)
    return {"member": face.member, "index": face.index, "member_sha256": member_sha,
            "empty_dropped": len(empty), "requested_unmapped": len(codepoints) - len(mapped)}


# ----------------------------------------------------------------------------- licences, manifest

def licence_name(source: Source, member_or_path: str) -> str:
    name = Path(member_or_path).name.removesuffix(".gz")
    if member_or_path.startswith("/"):
        return f"licenses/{name}.txt"
    return f"licenses/{source.package.replace('@', '').replace('/', '-')}.{name}.txt"


def copy_licences(source: Source, work: Path, out_dir: Path) -> list[str]:
    """Copy a source's licence files to ``fonts/licenses/``; return their paths relative to fonts/."""
    root = unpack(source, work)
    written = []
    for member in [*source.licence_members, *source.extra_licences]:
        path = Path(member) if member.startswith("/") else root / member
        if not path.is_file():
            raise SystemExit(f"{source.package}: licence file {member} not found")
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        rel = licence_name(source, member)
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / rel).write_bytes(data)
        written.append(rel)
    return written


def write_ofl(copyright_file: Path, notices: list[str], out: Path) -> None:
    """Write ``fonts/OFL.txt``: the Noto faces' notices and the OFL text from Debian's ``copyright``."""
    lines = copyright_file.read_text(encoding="utf-8").split("\n")
    # The stand-alone licence paragraph: a "License: SIL-1.1" line followed by the indented text
    # (the same field line also appears, without text, in the "Files: *" paragraph).
    starts = [i for i, line in enumerate(lines[:-1])
              if line == "License: SIL-1.1" and lines[i + 1].startswith(" ")]
    if not starts:
        raise SystemExit(f"{copyright_file}: no 'License: SIL-1.1' paragraph with text")
    body: list[str] = []
    for line in lines[starts[0] + 1:]:
        if not line.startswith(" "):
            break  # end of the indented licence paragraph
        text = line[1:]
        body.append("" if text == "." else text)
    while body and not body[-1]:
        body.pop()
    if not body or "SIL OPEN FONT LICENSE Version 1.1" not in "\n".join(body):
        raise SystemExit(f"{copyright_file}: the SIL-1.1 paragraph does not hold the OFL 1.1 text")

    head = ["The Noto fonts in this directory (Noto*SC-*.otf, Noto*SC-*.woff2) are subsets of the",
            "Simplified Chinese faces of Noto Sans CJK and Noto Serif CJK (Debian packages",
            "fonts-noto-cjk and fonts-noto-cjk-extra). Copyright notices of the source faces (name",
            "table, name ID 0):", ""]
    head += [f"  {n}" for n in dict.fromkeys(notices)]
    head += ["", "Noto is a trademark of Google Inc.", "",
             "Upstream (the noto-cjk project, derived from Adobe's Source Han fonts) states the",
             "notice as \"Copyright 2014-2021 Adobe (http://www.adobe.com/), with Reserved Font",
             "Name 'Source'.\" These subsets keep the Noto names and do not use the name 'Source'.",
             "",
             "This Font Software is licensed under the SIL Open Font License, Version 1.1, reproduced below",
             f"as shipped in {copyright_file.name} of the Debian package.", ""]
    out.write_text("\n".join(head + body) + "\n", encoding="utf-8", newline="\n")


def coverage(cps: set[int], songci: set[int], gb: set[int], wanted: list[int]) -> dict:
    return {"subset": len(cps & set(wanted)), "subset_total": len(wanted),
            "gb2312_hanzi": len(cps & gb), "songci_chars": len(cps & songci),
            "ascii": len(cps & set(range(0x21, 0x7F)))}


def manifest_entry(face: Face, out_dir: Path, record: dict | None, old: dict | None,
                   wanted: list[int], songci: set[int], gb: set[int], licences: list[str]) -> dict:
    """The manifest entry of a built face, read back from the output file."""
    from fontTools.ttLib import TTFont

    path = out_dir / face.out
    font = TTFont(str(path), lazy=True)
    names = font["name"]
    cps = set(font.getBestCmap())
    source = SOURCES[face.source]
    build = record if record is not None else (old or {}).get("build", {})
    entry = {
        "file": face.out,
        "index": 0,
        "family": names.getDebugName(16) or names.getDebugName(1),
        "subfamily": names.getDebugName(17) or names.getDebugName(2),
        "full_name": names.getDebugName(4),
        "style": face.style,
        "weight": face.weight or font["OS/2"].usWeightClass,
        "heldout": face.heldout,
        "notes": face.notes,
        "licence": face.licence,
        "licence_files": licences,
        "copyright": names.getDebugName(0),
        "source": {"kind": source.kind, "package": source.package, "version": source.version,
                   "sha256": source.sha256, "member": face.member, "face_index": face.index,
                   "member_sha256": build.get("member_sha256")},
        "format": "woff2" if path.suffix == ".woff2" else "opentype",
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "glyphs": len(font.getGlyphOrder()),
        "codepoints": len(cps),
        "covers": coverage(cps, songci, gb, wanted),
        "build": {"empty_dropped": build.get("empty_dropped"),
                  "requested_unmapped": build.get("requested_unmapped"),
                  "member_sha256": build.get("member_sha256")},
    }
    font.close()
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the bundled font library fonts/.")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR,
                        help="where source packages are downloaded and unpacked (default: %(default)s)")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "fonts")
    parser.add_argument("--corpus", type=Path, default=REPO_ROOT / "corpora" / "songci.txt",
                        help="corpus whose chars join the subset (default: %(default)s)")
    parser.add_argument("--charset", type=Path, default=REPO_ROOT / "char_dict" / "chinese.txt",
                        help="charset whose chars join the subset (default: %(default)s)")
    parser.add_argument("--only", action="append", default=[], metavar="FILE",
                        help="build only these outputs (e.g. LongCang-Regular.woff2; repeatable); "
                             "the manifest keeps the other faces' entries")
    args = parser.parse_args(argv)

    import fontTools

    for face in FACES:
        if face.style not in (*STYLES, LATIN_STYLE) or (face.style == LATIN_STYLE) != face.latin:
            raise SystemExit(f"{face.out}: style {face.style!r} not in {STYLES}, or a Latin face "
                             f"({LATIN_STYLE!r}) outside latin/")
    wanted = subset_codepoints(corpus_chars(args.corpus), charset_chars(args.charset))
    songci = {ord(c) for c in corpus_chars(args.corpus)}
    gb = {ord(c) for c in named_set("gb2312")}
    print(f"fontTools {fontTools.version}; {len(wanted):,} code points in the subset", flush=True)

    known = {f.out for f in FACES}
    for name in args.only:
        if name not in known and f"heldout/{name}" not in known and f"latin/{name}" not in known:
            raise SystemExit(f"--only {name}: not a face of FACES ({', '.join(sorted(known))})")
    selected = [f for f in FACES if not args.only or f.out in args.only
                or f.out.removeprefix("heldout/").removeprefix("latin/") in args.only]

    manifest_path = args.out_dir / "fonts.json"
    old = {}
    if manifest_path.is_file():
        old = {e["file"]: e for e in json.loads(manifest_path.read_text(encoding="utf-8"))["faces"]}
    records = {face.out: build_face(face, args.work_dir, args.out_dir, wanted) for face in selected}

    licences: dict[str, list[str]] = {}
    for package in dict.fromkeys(f.source for f in FACES):
        if package.startswith("fonts-noto-cjk"):
            licences[package] = ["OFL.txt"]
        else:
            licences[package] = copy_licences(SOURCES[package], args.work_dir, args.out_dir)
    noto_notices = []
    for face in FACES:
        if face.source.startswith("fonts-noto-cjk") and (args.out_dir / face.out).is_file():
            from fontTools.ttLib import TTFont

            noto_notices.append(TTFont(str(args.out_dir / face.out), lazy=True)["name"].getDebugName(0))
    noto_root = unpack(SOURCES["fonts-noto-cjk"], args.work_dir)
    write_ofl(noto_root / "usr/share/doc/fonts-noto-cjk/copyright", noto_notices,
              args.out_dir / "OFL.txt")

    entries = []
    for face in FACES:
        if not (args.out_dir / face.out).is_file():
            raise SystemExit(f"{args.out_dir / face.out} is missing: build it (drop --only)")
        entries.append(manifest_entry(face, args.out_dir, records.get(face.out), old.get(face.out),
                                      wanted, songci, gb, licences[face.source]))
    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "description": "Bundled font library: built by tools/build_fonts.py, described in README.md.",
        "subset_codepoints": len(wanted),
        "styles": list(STYLES),
        "latin_style": LATIN_STYLE,
        "faces": entries,
    }
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                             encoding="utf-8", newline="\n")
    total = sum(p.stat().st_size for p in args.out_dir.rglob("*") if p.is_file())
    print(f"wrote {manifest_path}: {len(entries)} faces ({sum(e['heldout'] for e in entries)} held out, "
          f"{sum(e['style'] == LATIN_STYLE for e in entries)} Latin); "
          f"{args.out_dir} holds {total:,} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
