"""The structure of a JPEG file: walking its segments, and rewriting it without metadata.

A JPEG is a start-of-image marker (FF D8), then segments (FF, a marker byte, and for most
markers a 2-byte length that counts itself), then an end-of-image marker (FF D9). After a
start-of-scan segment (FF DA) comes compressed data, which runs to the next marker; inside
it every FF byte is followed by 00 (a stuffed byte), a restart marker (D0-D7) or another FF.

Walking this structure tells whether a file is whole (truncated uploads and downloads stop
before EOI) without decoding a pixel, and lets an upload be stored without its metadata
while its compressed pixels stay byte for byte as they were: no decode, no re-encode, no
second round of compression loss.
"""
import re

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
_STANDALONE = {0x01, *range(0xD0, 0xD8)}               # TEM and RST0-7 carry no length
_MARKER_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")

# What a metadata-free copy keeps: frame headers of the baseline, extended and progressive
# Huffman kinds (what every camera and browser writes), Huffman and quantisation tables,
# restart interval, scans with their restart markers, SOI and EOI. APP14 "Adobe" stays
# because it says how to read the colour channels; APP0 "JFIF" stays without its
# thumbnail. EXIF, XMP, ICC, IPTC, comments and anything after EOI go.
_KEPT_FRAME_MARKERS = {0xC0, 0xC1, 0xC2}
_SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # all frame kinds (not DHT, JPG, DAC)
_KEPT_MARKERS = _KEPT_FRAME_MARKERS | {0xC4, 0xDB, 0xDD, SOS, SOI, EOI} | _STANDALONE
_METADATA_MARKERS = {*range(0xE0, 0xF0), 0xFE}         # APP0-APP15, COM
APP0, APP14 = 0xE0, 0xEE


class JpegDamaged(ValueError):
    """The file starts like a JPEG but its segments do not run whole through to EOI."""


def segments(data):
    """Yield (marker, start, end) for each segment from SOI through EOI; for SOS, `end`
    includes the compressed data after it. Raise JpegDamaged if the structure breaks."""
    if data[:2] != b"\xff\xd8":
        raise JpegDamaged("it does not start with a JPEG start-of-image marker")
    yield SOI, 0, 2
    position, size = 2, len(data)
    while position + 1 < size:
        if data[position] != 0xFF:
            raise JpegDamaged(f"no marker where one should be (byte {position})")
        marker = data[position + 1]
        if marker == 0xFF:                             # fill byte before a marker
            position += 1
            continue
        if marker == EOI:
            yield EOI, position, position + 2
            return
        if marker in _STANDALONE:
            yield marker, position, position + 2
            position += 2
            continue
        end = _segment_end(data, position)
        _check_header_length(data, marker, position, end)
        if marker == SOS:
            found = _MARKER_AFTER_SCAN.search(data, end)
            if found is None:
                raise JpegDamaged("the compressed data stops before the end-of-image marker")
            end = found.start()
        yield marker, position, end
        position = end
    raise JpegDamaged("the file stops before its end-of-image marker")


def _segment_end(data, position):
    if position + 4 > len(data):
        raise JpegDamaged("the file stops inside a segment header")
    length = int.from_bytes(data[position + 2:position + 4], "big")
    end = position + 2 + length
    if length < 2 or end > len(data):
        raise JpegDamaged("a segment runs past the end of the file")
    return end


def _check_header_length(data, marker, position, end):
    """A frame header (SOFn) holds 3 bytes per colour component and a scan header (SOS) 2;
    a length that disagrees means the file is damaged, even if the walk could go on."""
    if marker in _SOF_MARKERS:
        count_at, fixed, per_component = position + 9, 10, 3
    elif marker == SOS:
        count_at, fixed, per_component = position + 4, 8, 2
    else:
        return
    if count_at >= end or end - position != fixed + per_component * data[count_at]:
        raise JpegDamaged(f"a {'scan' if marker == SOS else 'frame'} header has the wrong length")


def is_whole(data):
    """True when the JPEG's segments run from SOI through to an EOI marker."""
    try:
        for _ in segments(data):
            pass
    except JpegDamaged:
        return False
    return True


def without_metadata(data):
    """The same JPEG with only what decoding needs (see _KEPT_MARKERS), or None when it
    holds a segment this rewrite does not know (arithmetic coding, lossless, JPEG
    extensions...): the caller then decodes and re-encodes it instead. Raise JpegDamaged
    if it is not whole."""
    kept, view = [], memoryview(data)      # slices of a view: the scans are copied once
    for marker, start, end in segments(data):
        if marker in _KEPT_MARKERS:
            kept.append(view[start:end])
        elif marker == APP14 and data[start + 4:start + 9] == b"Adobe":
            kept.append(view[start:end])
        elif marker == APP0 and data[start + 4:start + 9] == b"JFIF\0" and end - start >= 18:
            kept.append(_jfif_without_thumbnail(data[start:end]))
        elif marker not in _METADATA_MARKERS:
            return None
    return b"".join(kept)


def _jfif_without_thumbnail(segment):
    # FF E0, length 16, "JFIF\0", version (2), units (1), densities (2 + 2), thumbnail 0x0.
    return b"\xff\xe0\x00\x10" + segment[4:16] + b"\x00\x00"
