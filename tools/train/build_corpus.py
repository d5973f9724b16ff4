#!/usr/bin/python3
"""Build the training / held-out / calibration text for the default model.

Sources (both fetched as Debian .debs with `apt-get download`, unpacked with
`dpkg-deb -x`; nothing is installed):
  * r-cran-janeaustenr: Jane Austen's six novels (text public domain, package MIT).
    The text sits in an R lazy-load database (data/Rdata.rdb): a sequence of
    [uint32 BE length][zlib stream] blobs, each an R XDR-serialised character
    vector, one string per source line.  Parsed here without R.
  * sword-text-web: the World English Bible with Deuterocanon (public domain).
    A SWORD zText module: {ot,nt}.bzs holds <III (offset, size, usize) per
    block, {ot,nt}.bzz the zlib-compressed OSIS XML of each block.

Output (tools/work/corpus/): train.txt, heldout.txt, calibration.txt, one
paragraph per line, UTF-8, "\n"-terminated.  The split is deterministic: the
paragraphs of every source, in reading order, are grouped into blocks of about
BLOCK_BYTES; block k (counted over all sources) goes to held-out when
k % 100 in (25, 75), to calibration when k % 100 == 50, else to training.
Whole blocks move, so the three sets share no paragraph and no neighbouring
context beyond the block edge.
"""
import argparse
import html
import os
import re
import struct
import subprocess
import sys
import unicodedata
import zlib

BLOCK_BYTES = 8000
HELDOUT_SLOTS = (25, 75)
CALIB_SLOTS = (50,)

QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'",
                        "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " "})


def run(cmd, cwd=None):
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=cwd)


def fetch(pkg, work):
    """apt-get download PKG into work/debs and unpack into work/x; return x root."""
    debs = os.path.join(work, "debs")
    root = os.path.join(work, "x")
    os.makedirs(debs, exist_ok=True)
    if not any(f.startswith(pkg + "_") and f.endswith(".deb") for f in os.listdir(debs)):
        run(["apt-get", "download", pkg], cwd=debs)
    deb = sorted(f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb"))[-1]
    run(["dpkg-deb", "-x", os.path.join(debs, deb), root])
    return root, deb


def clean(s):
    s = unicodedata.normalize("NFC", s).translate(QUOTES)
    return re.sub(r"\s+", " ", s).strip()


# ---------------------------------------------------------------- Austen
def r_strings(blob):
    """Decode an R XDR serialisation of a character vector (STRSXP)."""
    assert blob[:2] == b"X\n", "not an XDR R serialisation"
    pos = 2
    version = struct.unpack_from(">i", blob, pos)[0]
    pos += 12  # version, writer version, min reader version
    if version == 3:
        n = struct.unpack_from(">i", blob, pos)[0]
        pos += 4 + n  # native encoding name
    flags = struct.unpack_from(">I", blob, pos)[0]
    assert flags & 0xFF == 16, "expected STRSXP"
    count = struct.unpack_from(">i", blob, pos + 4)[0]
    pos += 8
    out = []
    for _ in range(count):
        flags, n = struct.unpack_from(">Ii", blob, pos)
        assert flags & 0xFF == 9, "expected CHARSXP"
        pos += 8
        if n < 0:
            out.append("")  # NA_STRING
            continue
        out.append(blob[pos:pos + n].decode("utf-8", "replace"))
        pos += n
    return out


def austen(root):
    path = os.path.join(root, "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb")
    data = open(path, "rb").read()
    pos, books = 0, []
    while pos < len(data):
        z = zlib.decompressobj()
        blob = z.decompress(data[pos + 4:])
        pos = len(data) - len(z.unused_data)
        lines = r_strings(blob)
        books.append(lines)
    docs = []
    for lines in books:
        paras, cur = [], []
        for line in lines + [""]:
            if line.strip():
                cur.append(line.strip())
            elif cur:
                paras.append(clean(" ".join(cur)))
                cur = []
        title = paras[0]
        body = []
        for p in paras:
            # Drop headings (title, "By Jane Austen", VOLUME / CHAPTER lines).
            if re.fullmatch(r"(CHAPTER|Chapter|VOLUME|Volume)\s+[\dIVXLC]+\.?|By Jane Austen|[A-Z ]+", p):
                continue
            p = re.sub(r"_([^_]+)_", r"\1", p)  # _italics_ -> italics
            body.append(p.replace("_", ""))
        docs.append(("Austen: " + title.title(), body))
    return docs


# ---------------------------------------------------------------- WEB
BREAK = re.compile(r'<div [^>]*type="x-p"[^>]*/>|<lb [^>]*type="x-p"[^>]*/>|<lg[^>]*/>|'
                   r'<chapter [^>]*sID[^>]*/>|<div [^>]*type="(?:book|introduction|front)"[^>]*/>')


def web(root):
    base = os.path.join(root, "usr/share/sword/modules/texts/ztext/engWEB2015eb")
    docs = []
    for testament in ("ot", "nt"):
        idx = open(os.path.join(base, testament + ".bzs"), "rb").read()
        dat = open(os.path.join(base, testament + ".bzz"), "rb").read()
        for i in range(len(idx) // 12):
            off, size, _ = struct.unpack_from("<III", idx, 12 * i)
            xml = zlib.decompress(dat[off:off + size]).decode("utf-8")
            xml = re.sub(r"<note\b.*?</note>", "", xml, flags=re.S)
            xml = re.sub(r"<title\b.*?</title>", "", xml, flags=re.S)
            xml = re.sub(r"<rdg\b.*?</rdg>", "", xml, flags=re.S)
            m = re.search(r'osisID="([^".]+)"[^>]*type="book"', xml)
            name = m.group(1) if m else "%s block %d" % (testament, i)
            xml = BREAK.sub("\n", xml)
            text = html.unescape(re.sub(r"<[^>]+>", "", xml))
            paras = [clean(p) for p in text.split("\n")]
            paras = [p for p in paras if len(p) > 1]
            if paras:
                docs.append(("WEB: " + name, paras))
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--work", default=os.path.join(here, "..", "work"), help="scratch dir (gitignored)")
    args = ap.parse_args()
    work = os.path.abspath(args.work)
    out_dir = os.path.join(work, "corpus")
    os.makedirs(out_dir, exist_ok=True)

    root, deb_a = fetch("r-cran-janeaustenr", work)
    _, deb_w = fetch("sword-text-web", work)
    docs = austen(root) + web(root)

    split = {"train": [], "heldout": [], "calibration": []}
    k = 0
    stats = {}
    for name, paras in docs:
        block, size = [], 0
        for i, p in enumerate(paras):
            block.append(p)
            size += len(p.encode()) + 1
            if size >= BLOCK_BYTES or i == len(paras) - 1:
                slot = k % 100
                dest = "heldout" if slot in HELDOUT_SLOTS else "calibration" if slot in CALIB_SLOTS else "train"
                split[dest].extend(block)
                src = name.split(":")[0]
                stats.setdefault((src, dest), 0)
                stats[(src, dest)] += size
                block, size = [], 0
                k += 1
    for dest, paras in split.items():
        with open(os.path.join(out_dir, dest + ".txt"), "w", encoding="utf-8") as f:
            for p in paras:
                f.write(p + "\n")
    print("sources:", deb_a, deb_w)
    for (src, dest), n in sorted(stats.items()):
        print("%-7s %-12s %9d bytes" % (src, dest, n))
    for dest, paras in split.items():
        print("%-12s %6d paragraphs %9d bytes" % (dest, len(paras), sum(len(p.encode()) + 1 for p in paras)))


if __name__ == "__main__":
    main()
