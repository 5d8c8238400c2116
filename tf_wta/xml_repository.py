"""Reads the Extreme Classification Repository's text format as a tf.data pipeline.

The format (Bhatia et al., manik.varma.org/downloads/XC/XMLRepository.html):
a header line `num_points num_features num_labels`, then one line per point,
`l1,l2,... f:v f:v ...`: comma-separated label ids (none for a point
without labels), then `feature:value` pairs, ids from 0.
"""
import tensorflow as tf

_LABELS = r"[0-9]+(,[0-9]+)*"
_NUMBER = r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?"
_FEATURE = r"[0-9]+:" + _NUMBER


def read_header(path):
    """(num_points, num_features, num_labels) from the file's first line.

    Raises:
      ValueError: naming the file, when the header is not three ints >= 0.
    """
    with tf.io.gfile.GFile(path, "r") as file:
        line = file.readline()
    fields = line.split()
    if len(fields) != 3 or not all(field.isdigit() for field in fields):
        raise ValueError(f"{path}: line 1 must be the header 'num_points num_features "
                         f"num_labels', got {line.strip()!r}")
    return tuple(int(field) for field in fields)


def _count_points(path):
    """Lines after the header, streamed in 16 MiB chunks (the last line may
    lack its newline; blank lines at the end are not points)."""
    count, last, trailing_blank = 0, b"\n", 0
    with tf.io.gfile.GFile(path, "rb") as file:
        file.readline()
        while chunk := file.read(1 << 24):
            count += chunk.count(b"\n")
            last = chunk[-1:]
            trailing_blank = len(chunk) - len(chunk.rstrip(b"\n"))
    if last != b"\n":
        count += 1
    return count - max(trailing_blank - 1, 0)


def xml_repository_dataset(path, batch_size, num_features=None, num_labels=None):
    """A streaming dataset of a repository file, in batches.

    Args:
      path: the file (any path `tf.io.gfile` reads).
      batch_size: int >= 1, points per batch (the last batch may be smaller).
      num_features, num_labels: ints to check the header against (e.g. a test
        file against its training file), or None.
    Returns:
      A `tf.data.Dataset` of (features, labels): `tf.SparseTensor` float32
      [B, num_features] with sorted indices, and `tf.RaggedTensor` int32
      [B, None] label ids, in file order, with a known cardinality. Feed
      it to `WTAModel.fit` as it is (shuffle the file beforehand, or the
      batches with `.shuffle`, for SGD's sake).
    Raises:
      ValueError: (now) a bad header, a header that disagrees with
        num_features / num_labels, or a line count other than the header's.
      tf.errors.InvalidArgumentError: (while iterating) a malformed line, a
        feature or label id out of range, or a feature repeated in a line,
        naming the line number and its text.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    num_points, features, labels = read_header(path)
    for name, wanted, found in (("num_features", num_features, features),
                                ("num_labels", num_labels, labels)):
        if wanted is not None and wanted != found:
            raise ValueError(f"{path}: the header says {name}={found}, expected {wanted}")
    lines = _count_points(path)
    if lines != num_points:
        raise ValueError(f"{path}: the header says {num_points} points but the file has "
                         f"{lines} lines after it")
    dataset = tf.data.TextLineDataset(path).skip(1)
    numbered = tf.data.Dataset.zip(tf.data.Dataset.range(2, num_points + 2), dataset)
    batches = numbered.batch(batch_size).map(
        lambda numbers, text: _parse_lines(numbers, text, features, labels),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # The count is checked above: Keras then knows the epoch's length.
    return batches.apply(tf.data.experimental.assert_cardinality(-(-num_points // batch_size)))


def _assert_lines(ok, numbers, text, what):
    """An assertion naming the first line where `ok` is False."""
    first = tf.argmin(tf.cast(ok, tf.int32))
    return tf.debugging.Assert(tf.reduce_all(ok), ["line", numbers[first], what, text[first]],
                               summarize=1)


def _parse_lines(numbers, text, num_features, num_labels):
    tokens = tf.strings.split(text)  # on whitespace, no empty tokens
    first = tokens[:, :1].to_tensor(default_value="")[:, 0]
    has_labels = tf.logical_not(tf.strings.regex_full_match(first, ".*:.*"))
    label_text = tf.where(has_labels, first, "")
    # The first token holds the labels unless it is already a feature.
    starts = tf.cast(has_labels, tf.int64)
    positions = tf.ragged.range(tokens.row_lengths())
    feature_tokens = tf.ragged.boolean_mask(tokens, positions >= starts[:, None])
    good_labels = tf.logical_or(tf.equal(label_text, ""),
                                tf.strings.regex_full_match(label_text, _LABELS))
    good_features = tf.reduce_all(tf.strings.regex_full_match(feature_tokens, _FEATURE), axis=1)
    checks = [_assert_lines(good_labels, numbers, text, "has malformed labels (want l1,l2,...):"),
              _assert_lines(good_features, numbers, text,
                            "has a malformed feature (want id:value):")]
    with tf.control_dependencies(checks):
        label_tokens = tf.strings.split(label_text, ",")
        label_tokens = tf.ragged.boolean_mask(label_tokens, label_tokens != "")
        label_ids = tf.strings.to_number(label_tokens, tf.int64)
        pairs = tf.strings.split(feature_tokens.flat_values, ":").to_tensor(shape=[None, 2])
        feature_ids = feature_tokens.with_flat_values(tf.strings.to_number(pairs[:, 0], tf.int64))
        values = feature_tokens.with_flat_values(tf.strings.to_number(pairs[:, 1], tf.float32))
    checks = [
        _assert_lines(tf.reduce_all(label_ids < num_labels, axis=1), numbers, text,
                      f"has a label id >= num_labels={num_labels}:"),
        _assert_lines(tf.reduce_all(feature_ids < num_features, axis=1), numbers, text,
                      f"has a feature id >= num_features={num_features}:"),
    ]
    with tf.control_dependencies(checks):
        features = tf.sparse.reorder(tf.SparseTensor(
            tf.stack([feature_ids.value_rowids(), feature_ids.flat_values], axis=1),
            values.flat_values, tf.stack([tf.shape(text, out_type=tf.int64)[0],
                                          tf.constant(num_features, tf.int64)])))
    repeated = tf.reduce_all(tf.equal(features.indices[1:], features.indices[:-1]), axis=1)
    rows_with_repeats = tf.math.unsorted_segment_max(
        tf.cast(repeated, tf.int32), features.indices[1:, 0], tf.shape(text)[0])
    check = _assert_lines(tf.equal(rows_with_repeats, tf.int32.min) | tf.equal(
        rows_with_repeats, 0), numbers, text, "repeats a feature id:")
    with tf.control_dependencies([check]):
        return tf.sparse.map_values(tf.identity, features), tf.cast(label_ids, tf.int32)
