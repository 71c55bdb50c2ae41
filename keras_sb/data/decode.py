"""Decoding encoded images to RGB, and the resize / crop / flip applied to every image.

``decode_image`` is the one decoder of training, the demo and the exported SavedModel. Before
anything large is allocated it reads the image's width and height from the file's header and
refuses, with ``tf.errors.InvalidArgumentError``, an image over these limits:

``MAX_PIXELS``: decoded width x height. 8192 x 8192 (67 million pixels) lets a 61 MP camera
photo through; decoding and resizing an image that large adds 0.2 to 0.4 GB to the process
(JPEG, PNG, GIF; 0.6 GB for a 64 MB palette BMP; docs/data.md). Without a cap, a 20 KB PNG of
13,000 x 13,000 took 6.7 GB.

``MAX_ASPECT_RATIO``: the longer side over the shorter. Resizing the shorter side to S makes
an image S x (S x ratio): at most 96 x 9,600 pixels (11 MB as float32) at S = 96, where a
1 x 30,000 PNG of a few hundred bytes became 96 x 2,880,000 (11.8 GB in the demo). Being a
ratio, it is checked with the header, whatever S the image is resized to later.

``MAX_JPEG_SCANS``: scans of a JPEG. Encoders write about 10 (libjpeg's default progressive
script; a baseline JPEG has 1 to 3); the format leaves the number open, and each scan costs a
pass over the data and the blocks it codes (a 1 MB file of 20,000 scans took 204 s to decode
on a 2-core x86 VM). The scan headers (bytes FF DA, which entropy-coded data never holds) are
counted before decoding, with those of an embedded thumbnail; the count stops at the first
over the limit.

``MAX_DECODE_WORK``: the work of decoding an image, in samples: each scan of a JPEG passes over
every sample of the components it codes (a 4:2:0 chroma component has a quarter as many as
the luma), a PNG, GIF or BMP decodes 3 samples per pixel, and every image then gives 3 RGB
samples per pixel to convert and resize. A black 8192 x 8192 progressive JPEG (4:4:4) whose
smallest scan is repeated to 100 scans is 778 KB, within the other limits, but is 107 passes
over 67 million pixels: 8 s to decode. The limit, 20 passes over the largest image allowed,
admits that size in libjpeg's progressive script at 4:4:4 (17 passes) and bounds decoding to
about a second. Scans are sized from the frame header (width, height and each component's
sampling factors, read as the header libjpeg parses, or every component counted whole when
that is ambiguous) and the component selectors of each scan header. ``decoding_work``
computes it from the headers alone, e.g. to bound a whole request (``keras_sb.export``).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

MAX_PIXELS = 8192 * 8192
MAX_ASPECT_RATIO = 100
MAX_JPEG_SCANS = 100
MAX_DECODE_WORK = 20 * MAX_PIXELS  # 6 per pixel, a PNG's, GIF's or BMP's, always passes
RGB = 3  # samples per pixel of every decoded image
_FRAME_COMPONENTS = 4  # frame components whose sampling is read: a scan codes at most 4
_FRAME_MATCHES = 4  # frame headers matched; with more, the sampling is taken as unknown
_FRAME_SEARCH = 2**20  # bytes searched for the frame header (past them it is taken as unknown)
_GIF_STEPS = 4096  # most steps through a GIF's blocks to the end of its first image
_GIF_SKIP = 1024  # full 255-byte GIF sub-blocks skipped in one step


def decode_image(contents: tf.Tensor) -> tf.Tensor:
    """Encoded JPEG, PNG, BMP or GIF bytes -> uint8 [H, W, 3] RGB (a GIF's first frame).

    Grey, palette and CMYK images come out as RGB and alpha is dropped. ``tf.io`` reads the
    colour indices of a palette BMP (1, 2, 4 or 8 bits per pixel) as grey levels, so those are
    looked up in their colour table here instead. Other formats (also WebP and JPEG XL, which
    ``tf.io`` would decode without a size check), images over ``MAX_PIXELS``,
    ``MAX_ASPECT_RATIO`` or ``MAX_DECODE_WORK``, JPEGs of over ``MAX_JPEG_SCANS`` scans and
    malformed files raise ``tf.errors.InvalidArgumentError``.
    """
    image, _ = _by_format(contents, decode=True)
    image.set_shape([None, None, 3])
    return image


def decoding_work(contents: tf.Tensor) -> tf.Tensor:
    """The work of decoding ``contents`` (int64 samples, see ``MAX_DECODE_WORK``), from its
    headers; raises what ``decode_image`` would for images over the limits, without decoding."""
    return _by_format(contents, decode=False)[1]


def _by_format(contents: tf.Tensor, decode: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """(the decoded image, or an empty one unless ``decode``; the decoding work)."""
    gif_or_bmp = (_decode_gif_or_bmp if tf.executing_eagerly()
                  else _DECODE_GIF_OR_BMP_CALLS[decode])
    return tf.case(
        [
            (_starts(contents, b"\xff\xd8\xff"), lambda: _decode_jpeg(contents, decode)),
            (_starts(contents, b"\x89PNG"), lambda: _decode_png(contents, decode)),
        ],
        default=lambda: gif_or_bmp(contents, decode),
        exclusive=False,
    )


def _starts(contents: tf.Tensor, magic: bytes) -> tf.Tensor:
    return tf.strings.substr(contents, 0, len(magic)) == magic


def _decode_jpeg(contents: tf.Tensor, decode: bool) -> tuple[tf.Tensor, tf.Tensor]:
    height, width, components = tf.unstack(tf.image.extract_jpeg_shape(contents))  # header
    return _decode_within_limits(
        contents, height, width, decode,
        work=lambda pixels: _jpeg_work(contents, height, width, components, pixels,
                                       exact=not decode))


def _jpeg_work(contents: tf.Tensor, height: tf.Tensor, width: tf.Tensor, components: tf.Tensor,
               pixels: tf.Tensor, exact: bool) -> tf.Tensor:
    """A JPEG's decoding work (int64), once its scans (counted up to ``MAX_JPEG_SCANS`` + 1)
    and then its work are within the limits.

    Unless ``exact``, a bound of it where that is within ``MAX_DECODE_WORK`` (each scan codes
    at most 4 whole components): most images then skip the ~40 ops of ``_scan_samples`` and
    the check (in a tf.data pipeline, each costs a small JPEG ~10 % more time).
    """
    # One op splitting at most that often: the tf.strings.split wrapper adds ragged-tensor ops
    # that would cost every image in a tf.data pipeline more time than the split.
    scans = tf.raw_ops.StringSplitV2(input=tf.reshape(contents, [1]), sep=b"\xff\xda",
                                     maxsplit=MAX_JPEG_SCANS + 1).values[1:]
    check = tf.raw_ops.Assert(condition=tf.size(scans) <= MAX_JPEG_SCANS, data=[
        f"JPEG has more than {MAX_JPEG_SCANS} scans (the limit)"])
    with tf.control_dependencies([check]):
        def counted() -> tf.Tensor:
            samples = _scan_samples if tf.executing_eagerly() else _scan_samples_call
            work = samples(contents, scans, height, width, components) + RGB * pixels
            return _checked_work(work, height, width)

        if exact:
            return counted()
        bound = pixels * (4 * tf.cast(tf.size(scans), tf.int64) + RGB)
        return tf.cond(bound <= MAX_DECODE_WORK, lambda: bound, counted)


def _checked_work(work: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """``work``, once it is within ``MAX_DECODE_WORK``."""
    message = tf.strings.format(
        f"image is {{}}x{{}} pixels and needs {{}} samples of decoding work: more than the "
        f"limit of {MAX_DECODE_WORK:,} (pixels x scans, docs/data.md)", (width, height, work))
    check = tf.raw_ops.Assert(condition=work <= MAX_DECODE_WORK, data=[message])
    with tf.control_dependencies([check]):
        return tf.identity(work)


def _scan_samples(contents: tf.Tensor, scans: tf.Tensor, height: tf.Tensor, width: tf.Tensor,
                  components: tf.Tensor) -> tf.Tensor:
    """The samples that the JPEG ``scans`` (the bytes after each FF DA) pass over, int64.

    A scan header holds its number of components and their selectors; each selector counts
    the samples of that component in the frame header, or the whole image when no frame
    header, or more than ``_FRAME_MATCHES``, match.
    """
    heads = _leading_bytes(scans, 3 + 2 * _FRAME_COMPONENTS)  # length, count, selectors
    in_scan = tf.range(_FRAME_COMPONENTS) < tf.cast(heads[:, 2:3], tf.int32)  # [scans, 4]
    selectors = tf.cast(heads[:, 3::2], tf.int32)
    ids, samples = _frame_components(contents, height, width, components)  # [frames, 4]
    same = selectors[:, :, None, None] == ids[None, None]  # [scans, 4, frames, 4]
    found = tf.reduce_any(same, axis=[2, 3])
    pixels = tf.cast(height, tf.int64) * tf.cast(width, tf.int64)
    counted = tf.where(found, tf.reduce_max(tf.where(same, samples, 0), axis=[2, 3]), pixels)
    return tf.reduce_sum(tf.where(in_scan, counted, 0))


# One call in graphs, as GIF and BMP decoding below: inlined, the ops would cost every JPEG
# time as the untaken branch of ``_jpeg_work``'s condition.
_scan_samples_call = tf.function(
    _scan_samples, experimental_attributes={"_noinline": True},
    input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([None], tf.string),
                     *[tf.TensorSpec([], tf.int32)] * 3])


def _frame_components(contents: tf.Tensor, height: tf.Tensor, width: tf.Tensor,
                      components: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(component ids int32 [F, 4], their samples int64 [F, 4]) from each of the F frame
    headers (SOFn) in the first ``_FRAME_SEARCH`` bytes declaring ``height`` x ``width`` and
    ``components`` at 8 bits, F at most ``_FRAME_MATCHES`` (none if more: the scans then
    count the whole image).

    Taking the largest count over the F matches, as ``_scan_samples`` does, bounds the
    one libjpeg decodes by whatever else (e.g. an application segment) repeats its header.
    A component past the first ``components`` or with factors outside 1 to 4 never matches.
    """
    values = tf.stack([8 + 3 * components, 8, height, width, components])
    header = tf.strings.reduce_join(tf.gather(  # big-endian 16-bit length, 8-bit precision...
        tf.constant([bytes([byte]) for byte in range(256)]),
        tf.stack([values[0] // 256, values[0] % 256, values[1], values[2] // 256,
                  values[2] % 256, values[3] // 256, values[3] % 256, values[4]]) % 256))
    start = tf.reshape(tf.strings.substr(contents, 0, _FRAME_SEARCH), [1])
    frames = tf.raw_ops.StringSplitV2(input=start, sep=header, maxsplit=_FRAME_MATCHES).values[1:]
    frames = frames[: tf.where(tf.size(frames) < _FRAME_MATCHES, tf.size(frames), 0)]
    specs = tf.reshape(_leading_bytes(frames, 3 * _FRAME_COMPONENTS), [-1, _FRAME_COMPONENTS, 3])
    factors = tf.cast(tf.stack([specs[..., 1] // 16, specs[..., 1] % 16], -1), tf.int64)
    valid = ((tf.range(_FRAME_COMPONENTS) < components)[None]
             & tf.reduce_all((factors >= 1) & (factors <= 4), -1))
    largest = tf.reduce_max(tf.where(valid[..., None], factors, 1), axis=1, keepdims=True)
    sides = tf.cast(tf.stack([width, height]), tf.int64)
    sampled = -(-sides * factors // largest)  # each side rounded up, as libjpeg sizes them
    ids = tf.where(valid, tf.cast(specs[..., 0], tf.int32), -1)  # -1: no selector's value
    return ids, tf.reduce_prod(sampled, -1)


def _leading_bytes(pieces: tf.Tensor, count: int) -> tf.Tensor:
    """The first ``count`` bytes of each of ``pieces`` (zeros past their end), uint8 [N, count]."""
    padded = tf.strings.join([tf.strings.substr(pieces, 0, count), bytes(count)])
    return tf.io.decode_raw(tf.strings.substr(padded, 0, count), tf.uint8)


def _decode_png(contents: tf.Tensor, decode: bool) -> tuple[tf.Tensor, tf.Tensor]:
    # IHDR, the first chunk: big-endian width and height (at most 2^31 - 1) at bytes 16..24.
    width, height = (_read_int(contents, at, little_endian=False) for at in (16, 20))
    return _decode_within_limits(contents, height, width, decode)


def _decode_gif_or_bmp(contents: tf.Tensor, decode: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """GIF or BMP bytes -> (uint8 [H, W, 3], work) as ``_by_format``; any other format
    raises an error."""
    def gif() -> tuple[tf.Tensor, tf.Tensor]:
        first_image, height, width = _gif_first_image(contents)
        return _decode_within_limits(first_image, height, width, decode)

    return tf.case(
        [
            (_starts(contents, b"GIF"), gif),
            (_starts(contents, b"BM"), lambda: _decode_bmp(contents, decode)),
        ],
        default=lambda: _refused("not a JPEG, PNG, GIF or BMP file"),
        exclusive=False,
    )


# In graphs (tf.data, SavedModel) GIF and BMP decoding (~300 ops) is one function call, not
# inlined: inlined, every JPEG would spend ~20 us of CPU passing them by as an untaken branch.
# Eagerly (the demo) they run as plain ops, which keeps graph tracebacks out of the errors.
_DECODE_GIF_OR_BMP_CALLS = {
    decode: tf.function(lambda contents, decode=decode: _decode_gif_or_bmp(contents, decode),
                        input_signature=[tf.TensorSpec([], tf.string)],
                        experimental_attributes={"_noinline": True})
    for decode in (False, True)}


def _decode_bmp(contents: tf.Tensor, decode: bool) -> tuple[tf.Tensor, tf.Tensor]:
    bits = _read_int(contents, 28, tf.uint16)
    indexed = (bits > 0) & (bits <= 8)

    def decoded(contents: tf.Tensor) -> tf.Tensor:
        return tf.cond(indexed, lambda: _decode_indexed_bmp(contents),
                       lambda: _decode_any(contents))

    # Little-endian int32 width and height at 18 and 22; a negative height means top-down.
    height = tf.abs(_read_int(contents, 22))
    return _decode_within_limits(contents, height, _read_int(contents, 18), decode, decoded)


def _decode_any(contents: tf.Tensor) -> tf.Tensor:
    return tf.io.decode_image(contents, channels=3, expand_animations=False)


def _decode_within_limits(
    contents: tf.Tensor, height: tf.Tensor, width: tf.Tensor, decode: bool,
    decoder: Callable[[tf.Tensor], tf.Tensor] = _decode_any,
    work: Callable[[tf.Tensor], tf.Tensor] | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """(``decoder(contents)`` if ``decode``, else an empty image; the work), the decoder run
    only once the header's ``height`` x ``width`` and then the work passed.

    ``work(pixels)`` computes and checks the work after the size; by default ``RGB`` samples
    decoded per pixel and ``RGB`` output, always within ``MAX_DECODE_WORK`` once the size is.
    """
    with tf.control_dependencies([_check_size(height, width)]):
        pixels = tf.cast(height, tf.int64) * tf.cast(width, tf.int64)
        work = 2 * RGB * pixels if work is None else work(pixels)
    with tf.control_dependencies([work]):
        image = decoder(contents) if decode else tf.zeros([0, 0, 3], tf.uint8)
        return image, tf.identity(work)


def _refused(message: str) -> tuple[tf.Tensor, tf.Tensor]:
    """Raises ``message`` when run (in the shape of ``_by_format``'s result)."""
    with tf.control_dependencies([tf.raw_ops.Assert(condition=False, data=[message])]):
        return tf.zeros([0, 0, 3], tf.uint8), tf.constant(0, tf.int64)


def _check_size(height: tf.Tensor, width: tf.Tensor) -> tf.Operation | None:
    """An assertion that ``height`` x ``width`` is within ``MAX_PIXELS`` and the aspect ratio.

    Negative sizes (corrupt headers) fail it; a zero size is left to the decoder to refuse.
    """
    height, width = tf.cast(height, tf.int64), tf.cast(width, tf.int64)
    too_many = height * width > MAX_PIXELS
    too_thin = tf.maximum(height, width) > MAX_ASPECT_RATIO * tf.minimum(height, width)
    limit = tf.where(too_many, f"more than the limit of {MAX_PIXELS:,} pixels",
                     f"one side more than {MAX_ASPECT_RATIO} times the other (the limit)")
    message = tf.strings.join([tf.strings.format("image is {}x{} pixels: ", (width, height)),
                               limit])
    return tf.raw_ops.Assert(condition=~(too_many | too_thin), data=[message])


def _read_int(contents: tf.Tensor, offset: int, dtype: tf.DType = tf.int32,
              little_endian: bool = True) -> tf.Tensor:
    """The integer of type ``dtype`` at byte ``offset``, as int32 (read as 0 past the end)."""
    start = tf.strings.substr(contents, 0, offset + dtype.size)  # in range, even for b""
    field = tf.strings.substr(tf.strings.join([start, bytes(offset + dtype.size)]), offset,
                              dtype.size)
    return tf.cast(tf.io.decode_raw(field, dtype, little_endian=little_endian)[0], tf.int32)


def _substr(contents: tf.Tensor, offset: tf.Tensor | int,
            length: tf.Tensor | int) -> tf.Tensor:
    """Up to ``length`` bytes of ``contents`` from ``offset``; '' past the end or for negative
    numbers. (There ``tf.strings.substr`` raises an error quoting all of ``contents``, which
    Python then fails to decode as UTF-8, raising UnicodeDecodeError instead.)"""
    size = tf.strings.length(contents)
    offset = tf.clip_by_value(offset, 0, size)
    return tf.strings.substr(contents, offset, tf.clip_by_value(length, 0, size - offset))


def _gif_first_image(contents: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(a GIF's bytes up to the end of its first image and a trailer, its height, its width).

    ``tf.io`` decodes every frame of a GIF, even to return the first, onto a canvas as large
    as the largest frame (the logical screen size is ignored): cut after the first image, the
    decoder's memory depends only on that image's size. The blocks are walked in at most
    ``_GIF_STEPS`` steps: one per extension or image, more for a chain of sub-blocks longer
    than ``_GIF_SKIP`` full (255-byte) ones or with several shorter ones.
    """
    data = tf.io.decode_raw(contents, tf.uint8)
    end = tf.size(data)

    def byte(at: tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.gather(data, tf.minimum(at, end - 1)), tf.int32)

    def after_colours(at: tf.Tensor) -> tf.Tensor:  # past the flags byte at ``at``, and its table
        flags = byte(at)
        return at + 1 + tf.where(flags >= 128, 3 * tf.bitwise.left_shift(2, flags % 8), 0)

    def step(at, in_chain, image_at):
        # Out of a chain, an extension (0x21, a label) or an image (0x2C, 8 bytes of position
        # and size, flags, a colour table, the LZW code size) opens one; anything else ends.
        kind = byte(at)
        chain = tf.where(in_chain, at, tf.where(kind == 0x2C, after_colours(at + 9) + 1,
                                                tf.where(kind == 0x21, at + 2, end)))
        # A chain of sub-blocks, each a length byte and that many bytes, ends with length 0:
        # skip full ones, then read one, and the terminator if it follows.
        full = tf.cast(byte(chain + 256 * tf.range(_GIF_SKIP)) == 255, tf.int32)
        block = chain + 256 * tf.argmin(tf.concat([full, [0]], 0), output_type=tf.int32)
        after = block + 1 + byte(block)
        terminated = (after > block + 1) & (byte(after) == 0)
        return (tf.where(terminated, after + 1, after),
                ~terminated & (after > block + 1),
                tf.where(~in_chain & (kind == 0x2C), at, image_at))

    at, in_chain, image_at = tf.while_loop(
        lambda at, in_chain, image_at: (at < end) & (in_chain | (image_at < 0)), step,
        (after_colours(10) + 2, tf.constant(False), tf.constant(-1)),
        maximum_iterations=_GIF_STEPS)
    complete = tf.raw_ops.Assert(
        condition=(image_at >= 0) & ~in_chain & (at <= end),
        data=[f"GIF ends before its first image does, or has over {_GIF_STEPS} blocks before"])
    with tf.control_dependencies([complete]):
        first_image = tf.strings.join([tf.strings.substr(contents, 0, at), b";"])
        width, height = (byte(image_at + i) + 256 * byte(image_at + i + 1) for i in (5, 7))
    return first_image, height, width


def _decode_indexed_bmp(contents: tf.Tensor) -> tf.Tensor:
    """Uncompressed palette BMP bytes -> uint8 [H, W, 3]; malformed files raise an error.

    Indices past the colour table are black. Each byte of pixel data is looked up at once as
    the 1 to 8 pixels it packs: no per-pixel integer index (4 bytes per pixel as int32).
    """
    data_start, header_size, width, height = (_read_int(contents, at) for at in (10, 14, 18, 22))
    bits = _read_int(contents, 28, tf.uint16)
    levels = tf.bitwise.left_shift(1, bits)
    colours = _read_int(contents, 46)
    colours = tf.where(colours > 0, colours, levels)
    checks = [
        tf.raw_ops.Assert(condition=_read_int(contents, 30) == 0, data=["compressed BMP"]),
        tf.raw_ops.Assert(condition=8 % bits == 0, data=["unsupported BMP bit depth"]),
    ]
    with tf.control_dependencies(checks):
        table = _substr(contents, 14 + header_size, 4 * colours)
    table = tf.reshape(tf.io.decode_raw(table, tf.uint8), [-1, 4])[:, 2::-1]  # BGRX -> RGB
    table = tf.concat([table, tf.zeros([tf.maximum(levels - tf.shape(table)[0], 0), 3],
                                       tf.uint8)], 0)
    shifts = 8 - bits * (tf.range(8 // bits) + 1)  # the first pixel in the high bits
    pixels = tf.bitwise.right_shift(tf.range(256)[:, None], shifts) & (levels - 1)
    by_byte = tf.gather(table, pixels)  # [256 byte values, 8 // bits pixels, 3]
    rows, row_bytes = tf.abs(height), (width * bits + 31) // 32 * 4
    packed = tf.io.decode_raw(_substr(contents, data_start, rows * row_bytes), tf.uint8)
    packed = tf.reshape(packed, [rows, row_bytes])
    packed = tf.cond(height > 0, lambda: tf.reverse(packed, [0]), lambda: packed)  # bottom-up
    image = tf.gather(by_byte, tf.cast(packed, tf.int16))  # [rows, row_bytes, 8 // bits, 3]
    return tf.reshape(image, [rows, -1, 3])[:, :width]


def as_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 (or float) images -> float32 in [0, 1]."""
    return tf.image.convert_image_dtype(images, tf.float32)


def resize_shorter_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """[H, W, 3] image -> the same dtype (uint8, or float32 in [0, 1]), shorter side ``size``.

    The aspect ratio is kept; images whose shorter side is already ``size`` are returned
    untouched. Others are resampled (bilinear, anti-aliased) and rounded back to uint8: images
    stay 8-bit until they are batched, where one op converts the whole batch to float. The
    resampling reads uint8 directly: a float32 copy of a large image would take 4x its memory.
    """
    shape = tf.shape(image)[:2]
    shorter = tf.reduce_min(shape)
    scale = 1 / image.dtype.max if image.dtype.is_integer else 1.0  # to [0, 1]

    def resized() -> tf.Tensor:
        scaled = tf.round(tf.cast(shape * size, tf.float32) / tf.cast(shorter, tf.float32))
        new_shape = tf.maximum(tf.cast(scaled, tf.int32), size)
        resampled = tf.image.resize(image, new_shape, antialias=True) * scale
        return tf.image.convert_image_dtype(resampled, image.dtype, saturate=True)

    return tf.cond(shorter == size, lambda: image, resized)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """Shorter side to ``size``, then the central ``size`` x ``size`` crop (dtype kept)."""
    image = resize_shorter_side(image, size)
    shape = tf.shape(image)
    top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
    image = image[top : top + size, left : left + size]
    image.set_shape([size, size, 3])
    return image


def random_crop_flip(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Shorter side to ``size``, a random ``size`` x ``size`` crop and a random horizontal flip.

    ``seed`` is an int64 scalar; the result is a deterministic function of the image and it.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.split(tf.stack([seed, 0]), 2))
    image = resize_shorter_side(image, size)
    image = tf.image.stateless_random_crop(image, [size, size, 3], seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
