"""XMP, IPTC, ICC and comments: kept in the sidecar and put back byte for byte on restore."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image, ImageCms

from conftest import BOX, record_of, run, shoot
from photorescue_batch.blocks import MetadataBlock, jpeg_segments
from photorescue_batch.demo import photo_like

XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://'
    b'purl.org/dc/elements/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
    b'xmp:Rating="4" photoshop:DateCreated="2019-07-14T09:30:00"><dc:subject><rdf:Bag>'
    b"<rdf:li>beach</rdf:li><rdf:li>Grandma</rdf:li></rdf:Bag></dc:subject>"
    b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def iptc_app13(keywords: list[str], caption: str) -> bytes:
    """An APP13 segment as Photoshop writes it: IPTC-IIM records in an 8BIM 0x0404 resource."""
    records = b"".join(
        b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(text)) + text
        for dataset, text in [(25, k.encode()) for k in keywords] + [(120, caption.encode())]
    )
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(records)) + records
    resource += b"\x00" * (len(records) % 2)
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def with_segment(path: Path, segment: bytes) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:2] + segment + data[2:])


def app_payloads(path: Path, marker: int) -> list[bytes]:
    """The payloads of one kind of segment in a JPEG, read without photorescue's code."""
    data, at, found = path.read_bytes(), 2, []
    while data[at] == 0xFF and data[at + 1] != 0xDA:
        size = struct.unpack_from(">H", data, at + 2)[0]
        if data[at + 1] == marker:
            found.append(data[at + 4 : at + 2 + size])
        at += 2 + size
    return found


def test_xmp_iptc_icc_and_comment_come_back_byte_for_byte(library, tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    upright = shoot(library / "tmp.jpg", seed=1)
    path = library / "beach.jpg"
    exif = Image.open(library / "tmp.jpg").info["exif"]
    upright.save(path, quality=92, exif=exif, icc_profile=srgb, comment=b"Saint-Malo, 2019",
                 xmp=XMP)  # fmt: skip
    (library / "tmp.jpg").unlink()
    with_segment(path, iptc_app13(["beach", "Grandma"], "Grandma at the beach"))
    dest, out = tmp_path / "backup", tmp_path / "restored"

    run("backup", library, dest, "--box", BOX, check_code=0)
    run("restore", dest, out, check_code=0)

    restored = out / "beach.jpg"
    for marker in (0xE1, 0xED, 0xE2, 0xFE):  # XMP (and EXIF), IPTC, ICC, comment
        originals = [p for p in app_payloads(path, marker) if not p.startswith(b"Exif")]
        backs = [p for p in app_payloads(restored, marker) if not p.startswith(b"Exif")]
        assert backs == originals, hex(marker)
    with Image.open(restored) as image:
        assert image.info["icc_profile"] == srgb
    [photo] = record_of(dest, "").photos
    assert photo.tags["XMP Rating"] == "4" and photo.tags["XMP Keywords"] == "beach; Grandma"
    assert photo.tags["IPTC Keywords"] == "beach; Grandma"
    assert photo.tags["IPTC Caption"] == "Grandma at the beach"


def test_a_date_only_in_xmp_orders_the_photo(library, tmp_path):
    scanned = photo_like(480, 320, seed=1)  # no EXIF at all, as a scanner writes it
    scanned.save(library / "z-scanned.jpg", quality=90, xmp=XMP)  # DateCreated 2019-07-14
    shoot(library / "a-phone.jpg", seed=2)  # EXIF: 2021-05-01
    dest = tmp_path / "backup"

    run("backup", library, dest, "--box", BOX, check_code=0)

    photos = record_of(dest, "").photos
    assert [p.name for p in photos] == ["z-scanned.jpg", "a-phone.jpg"]
    assert photos[0].captured == "2019-07-14T09:30:00"


def test_png_text_and_its_xmp_are_kept_and_the_xmp_restored(library, tmp_path):
    path = library / "scan.png"
    photo_like(480, 320, seed=3).save(path)
    data = path.read_bytes()
    itxt = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP
    chunk = struct.pack(">I", len(itxt)) + b"iTXt" + itxt
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + itxt))
    path.write_bytes(data[:33] + chunk + data[33:])  # after IHDR
    dest, out = tmp_path / "backup", tmp_path / "restored"

    run("backup", library, dest, "--box", BOX, check_code=0)
    run("restore", dest, out, check_code=0)

    [photo] = record_of(dest, "").photos
    assert MetadataBlock("png-text", b"iTXt" + itxt) in photo.blocks
    assert [p for p in app_payloads(out / "scan.jpg", 0xE1) if not p.startswith(b"Exif")] == [
        b"http://ns.adobe.com/xap/1.0/\x00" + XMP
    ]


def test_only_an_rgb_profile_goes_on_the_restored_rgb_jpeg():
    rgb = b"\x00" * 16 + b"RGB " + b"\x00" * 108
    cmyk = b"\x00" * 16 + b"CMYK" + b"\x00" * 108
    assert b"ICC_PROFILE" in jpeg_segments([MetadataBlock("icc", rgb)])
    assert jpeg_segments([MetadataBlock("icc", cmyk)]) == b""
