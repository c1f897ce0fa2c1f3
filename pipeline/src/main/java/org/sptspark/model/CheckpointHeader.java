package org.sptspark.model;

import ai.djl.ndarray.types.Shape;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A checkpoint file checked by its header alone, without reading its tensor data: what the driver
 * runs before a job is submitted, so that an unusable checkpoint is refused in one line naming the
 * file instead of failing inside a Spark task.
 *
 * <p>For safetensors it reads the 8-byte little-endian header length and the JSON header, and
 * checks that the length fits the file and the 100 MB cap of the format, that the header is a JSON
 * object of tensors (each with a dtype this project reads, a shape and {@code data_offsets}), that
 * every tensor's bytes are its dtype's size times its element count, that the tensors tile the data
 * section in order without gaps or overlaps, and that the file ends where the last tensor does. For
 * Google's {@code .npz} it reads the zip's central directory (at the end of the file) and checks that
 * it is a complete zip of {@code .npy} arrays, refusing PyTorch's zip format. Pickles are refused
 * by their first byte. {@link #requireFits} then compares the tensor names (and, for safetensors,
 * shapes) with a preset exactly as {@link Checkpoints#load} does.
 *
 * <p>Reads the first 64 KiB, and beyond them only the rest of the header (safetensors) or the
 * zip's directory (npz), through a {@link Source}: any file system with a length and positioned
 * reads ({@code CheckpointFiles} adapts Hadoop's).
 */
public final class CheckpointHeader {

    /** The largest safetensors header accepted: the safetensors library's own limit. */
    public static final long MAX_HEADER_BYTES = 100_000_000;

    /**
     * The largest safetensors data section DJL 0.35.1 reads: it reads a file's tensor data into one
     * Java array, addressed by {@code int} offsets.
     */
    public static final long MAX_DATA_BYTES = Integer.MAX_VALUE - 8;

    /** Bytes read first: the whole header of every preset's checkpoint up to ViT-H. */
    static final int FIRST_READ = 1 << 16;

    /** The safetensors dtypes DJL's reader decodes, with their element sizes. */
    static final Map<String, Integer> DTYPE_BYTES;

    static {
        var m = new LinkedHashMap<String, Integer>();
        m.put("F32", 4);
        m.put("F16", 2);
        m.put("BF16", 2);
        m.put("F64", 8);
        m.put("I64", 8);
        m.put("I32", 4);
        m.put("I8", 1);
        m.put("U8", 1);
        m.put("BOOL", 1);
        DTYPE_BYTES = Collections.unmodifiableMap(m);
    }

    private static final Gson GSON = new Gson();

    /** A file as the check reads it: its length and positioned reads. */
    public interface Source {

        /** The file's name or URI, for messages. */
        String name();

        /** The file's length in bytes. */
        long length() throws IOException;

        /** Fills {@code into} with the bytes at {@code position}; the range lies within the file. */
        void readFully(long position, byte[] into) throws IOException;
    }

    /**
     * One tensor as the file names it.
     *
     * @param name its name in the file (timm's, or Google's without {@code .npy})
     * @param dtype the safetensors dtype; null for npz, whose array headers are not read
     * @param shape null for npz
     * @param begin and {@code end}: its {@code data_offsets} in the data section (safetensors); -1 for npz
     */
    public record Tensor(String name, String dtype, Shape shape, long begin, long end) {}

    private final String source;
    private final Checkpoints.Format format;
    private final long fileBytes;
    private final long bytesRead;
    private final List<Tensor> tensors;
    private final Map<String, Shape> ours;

    private CheckpointHeader(String source, Checkpoints.Format format, long fileBytes, long bytesRead,
            List<Tensor> tensors, Map<String, Shape> ours) {
        this.source = source;
        this.format = format;
        this.fileBytes = fileBytes;
        this.bytesRead = bytesRead;
        this.tensors = List.copyOf(tensors);
        this.ours = Collections.unmodifiableMap(ours);
    }

    /** The file, for messages. */
    public String source() {
        return source;
    }

    public Checkpoints.Format format() {
        return format;
    }

    /** The file's length. */
    public long fileBytes() {
        return fileBytes;
    }

    /** How many of the file's bytes the check read. */
    public long bytesRead() {
        return bytesRead;
    }

    /** The tensors in the order the header lists them, under the file's own names. */
    public List<Tensor> tensors() {
        return tensors;
    }

    /**
     * The tensors under our names (timm's, q/k/v split; Google's mapped), with their shapes as
     * {@link Checkpoints#read} will produce them; a shape is null where the header does not give
     * it (npz).
     */
    public Map<String, Shape> ours() {
        return ours;
    }

    /**
     * Checks that the checkpoint holds exactly the tensors {@code config}'s model needs, with
     * their shapes where the header gives them, the head according to {@code headPolicy}: the
     * check and the message of {@link Checkpoints#load}.
     *
     * @throws IllegalArgumentException naming the file and every offending tensor
     */
    public CheckpointHeader requireFits(BackboneConfig config, Checkpoints.HeadPolicy headPolicy) {
        Checkpoints.requireFits(config, config.space(), ours, source, headPolicy);
        return this;
    }

    /** Reads and checks a local file's header. */
    public static CheckpointHeader read(java.nio.file.Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return read(new Source() {
                @Override
                public String name() {
                    return file.toString();
                }

                @Override
                public long length() throws IOException {
                    return channel.size();
                }

                @Override
                public void readFully(long position, byte[] into) throws IOException {
                    ByteBuffer buffer = ByteBuffer.wrap(into);
                    while (buffer.hasRemaining()) {
                        if (channel.read(buffer, position + buffer.position()) < 0) {
                            throw new java.io.EOFException(file + " ended at byte " + (position + buffer.position()));
                        }
                    }
                }
            });
        }
    }

    /**
     * Reads and checks a checkpoint's header.
     *
     * @throws IllegalArgumentException in one line naming the file, for a pickle, a file of another
     *     format, or a header that is malformed or does not match the file
     */
    public static CheckpointHeader read(Source in) throws IOException {
        String source = in.name();
        Checkpoints.refusePickleName(source);
        long length = in.length();
        if (length == 0) {
            throw problem(source, "the file is empty");
        }
        byte[] first = new byte[(int) Math.min(length, FIRST_READ)];
        in.readFully(0, first);
        if (Checkpoints.looksLikePickle(first)) {
            throw Checkpoints.pickle(source, "a Python pickle (a PyTorch checkpoint in torch.save's legacy format)");
        }
        if (first.length >= 4 && first[0] == 'P' && first[1] == 'K' && first[2] == 3 && first[3] == 4) {
            return npz(in, source, length, first);
        }
        return safetensors(in, source, length, first);
    }

    // ------------------------------------------------------------------ safetensors

    private static CheckpointHeader safetensors(Source in, String source, long length, byte[] first) throws IOException {
        if (length < 8) {
            throw neither(source, first, "it is " + length + " bytes long, too short for a safetensors file, whose first 8"
                    + " bytes are the header's length");
        }
        long n = ByteBuffer.wrap(first, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        boolean looksLikeJson = length == 8 || first[8] == '{';
        boolean plausible = Long.compareUnsigned(n, 2) >= 0
                && Long.compareUnsigned(n, Math.min(length - 8, MAX_HEADER_BYTES)) <= 0;
        if (!looksLikeJson && !plausible) {
            throw neither(source, first, null);
        }
        if (Long.compareUnsigned(n, 2) < 0) {
            throw problem(source, "its header length (the first 8 bytes, little-endian) is " + n
                    + ", too short for a JSON header");
        }
        if (Long.compareUnsigned(n, length - 8) > 0) {
            throw problem(source, "its header length (the first 8 bytes, little-endian) claims " + Long.toUnsignedString(n)
                    + " bytes, but the file is " + length + " bytes long"
                    + (n >= 0 && n <= MAX_HEADER_BYTES ? " (truncated?)" : ""));
        }
        if (n > MAX_HEADER_BYTES) {
            throw problem(source, "its header length (the first 8 bytes, little-endian) claims " + n + " bytes, more than"
                    + " the " + MAX_HEADER_BYTES + " a safetensors header may have");
        }
        byte[] header = new byte[(int) n];
        int have = Math.min(header.length, first.length - 8);
        System.arraycopy(first, 8, header, 0, have);
        if (have < header.length) {
            byte[] rest = new byte[header.length - have];
            in.readFully(8 + have, rest);
            System.arraycopy(rest, 0, header, have, rest.length);
        }
        long data = length - 8 - n;
        List<Tensor> tensors = parseHeader(source, header);
        checkLayout(source, tensors, length, 8 + n, data);
        return new CheckpointHeader(source, Checkpoints.Format.SAFETENSORS, length, Math.max(first.length, 8 + n), tensors,
                timmShapes(source, tensors));
    }

    /** The header's tensors, every entry checked for its form. */
    private static List<Tensor> parseHeader(String source, byte[] header) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(header)).toString();
        } catch (CharacterCodingException e) {
            throw problem(source, "its " + header.length + "-byte header is not UTF-8 text");
        }
        if (text.charAt(0) != '{') {
            throw problem(source, "its header is not a JSON object: it starts with '" + printable(text) + "'");
        }
        var tensors = new ArrayList<Tensor>();
        var names = new HashSet<String>();
        try {
            JsonReader reader = new JsonReader(new StringReader(text));
            reader.beginObject();
            while (reader.hasNext()) {
                String name = reader.nextName();
                JsonElement value = GSON.getAdapter(JsonElement.class).read(reader);
                if (!names.add(name)) {
                    throw problem(source, "its header names tensor '" + name + "' twice");
                }
                if (name.equals("__metadata__")) {
                    checkMetadata(source, value);
                } else {
                    tensors.add(tensor(source, name, value));
                }
            }
            reader.endObject();
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw problem(source, "its header holds more than one JSON value");
            }
        } catch (IOException | JsonParseException | IllegalStateException e) {
            throw problem(source, "its header is not valid JSON: " + firstLine(e));
        }
        return tensors;
    }

    private static void checkMetadata(String source, JsonElement value) {
        if (!value.isJsonObject()) {
            throw problem(source, "its header's __metadata__ is " + abbreviate(value) + ", not an object of strings");
        }
        for (var e : value.getAsJsonObject().entrySet()) {
            if (!e.getValue().isJsonPrimitive() || !e.getValue().getAsJsonPrimitive().isString()) {
                throw problem(source, "its header's __metadata__ entry '" + e.getKey() + "' is " + abbreviate(e.getValue())
                        + ", not a string");
            }
        }
    }

    private static Tensor tensor(String source, String name, JsonElement value) {
        String what = "tensor '" + name + "'";
        if (!value.isJsonObject()) {
            throw problem(source, what + " is described by " + abbreviate(value)
                    + ", not an object with dtype, shape and data_offsets");
        }
        JsonObject o = value.getAsJsonObject();
        JsonElement dtype = o.get("dtype");
        if (dtype == null || !dtype.isJsonPrimitive() || !dtype.getAsJsonPrimitive().isString()) {
            throw problem(source, what + " has " + (dtype == null ? "no dtype" : "dtype " + abbreviate(dtype)));
        }
        String type = dtype.getAsString();
        if (!DTYPE_BYTES.containsKey(type)) {
            throw problem(source, what + " has dtype '" + type + "', which DJL's safetensors reader does not read (it reads "
                    + String.join(", ", DTYPE_BYTES.keySet()) + ")");
        }
        long[] dims = integers(o.get("shape"), -1);
        if (dims == null) {
            throw problem(source, what + " has " + (o.has("shape") ? "shape " + abbreviate(o.get("shape")) : "no shape")
                    + ", not a list of non-negative integers");
        }
        long[] offsets = integers(o.get("data_offsets"), 2);
        if (offsets == null || offsets[0] > offsets[1]) {
            throw problem(source, what + " has " + (o.has("data_offsets") ? "data_offsets "
                    + abbreviate(o.get("data_offsets")) : "no data_offsets") + ", not [begin, end] with 0 <= begin <= end");
        }
        return new Tensor(name, type, new Shape(dims), offsets[0], offsets[1]);
    }

    /** A JSON array of non-negative whole numbers (of {@code size} of them when {@code size >= 0}), or null. */
    private static long[] integers(JsonElement element, int size) {
        if (element == null || !element.isJsonArray()) {
            return null;
        }
        JsonArray array = element.getAsJsonArray();
        if (size >= 0 && array.size() != size) {
            return null;
        }
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            JsonElement e = array.get(i);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
                return null;
            }
            try {
                out[i] = e.getAsBigDecimal().longValueExact();
            } catch (ArithmeticException | NumberFormatException x) {
                return null;
            }
            if (out[i] < 0) {
                return null;
            }
        }
        return out;
    }

    /** The bytes a tensor's dtype and shape need, or -1 when that overflows a long. */
    static long neededBytes(Tensor t) {
        long n = DTYPE_BYTES.get(t.dtype());
        try {
            for (long d : t.shape().getShape()) {
                n = Math.multiplyExact(n, d);
            }
        } catch (ArithmeticException e) {
            return -1;
        }
        return n;
    }

    /**
     * The tensors must tile the data section: each the size its dtype and shape need, in order from
     * byte 0 without gaps or overlaps, the last ending where the file does.
     */
    private static void checkLayout(String source, List<Tensor> tensors, long length, long dataStart, long data) {
        var sorted = new ArrayList<>(tensors);
        sorted.sort(Comparator.comparingLong(Tensor::begin).thenComparingLong(Tensor::end));
        boolean tiled = true;
        long at = 0;
        for (Tensor t : sorted) {
            tiled &= t.begin() == at && t.end() - t.begin() == neededBytes(t);
            at = t.end();
        }
        long promised = dataStart + at;
        if (tiled) {
            if (at != data) {
                throw problem(source, (at > data ? "it is truncated: " : "it has " + (data - at)
                        + " bytes after its last tensor: ") + "the file ends at byte " + length + ", its header promises "
                        + promised);
            }
            if (at > MAX_DATA_BYTES) {
                throw problem(source, "it holds " + at + " bytes of tensor data, more than the 2 GiB DJL's safetensors reader"
                        + " reads from one file: store it in F16 or BF16");
            }
            return;
        }
        for (Tensor t : sorted) {
            if (t.end() > data) {
                throw problem(source, "tensor '" + t.name() + "' claims bytes [" + (dataStart + t.begin()) + ", "
                        + (dataStart + t.end()) + ") of a " + length + "-byte file (data_offsets [" + t.begin() + ", "
                        + t.end() + ") after the " + dataStart + "-byte header)");
            }
        }
        for (Tensor t : sorted) {
            long needed = neededBytes(t);
            if (t.end() - t.begin() != needed) {
                throw problem(source, "tensor '" + t.name() + "' (" + t.dtype() + " " + t.shape() + ") needs "
                        + (needed < 0 ? "more than 2^63" : needed) + " bytes, but its data_offsets [" + t.begin() + ", "
                        + t.end() + ") hold " + (t.end() - t.begin()));
            }
        }
        Tensor previous = null;
        for (Tensor t : sorted) {
            long end = previous == null ? 0 : previous.end();
            if (t.begin() < end) {
                throw problem(source, "tensors '" + previous.name() + "' (data_offsets [" + previous.begin() + ", "
                        + previous.end() + ")) and '" + t.name() + "' ([" + t.begin() + ", " + t.end() + ")) overlap");
            }
            if (t.begin() > end) {
                throw problem(source, "bytes [" + end + ", " + t.begin() + ") of its data section belong to no tensor ("
                        + (previous == null ? "before" : "between '" + previous.name() + "' and") + " '" + t.name() + "')");
            }
            previous = t;
        }
        throw new IllegalStateException("unreachable: the layout of " + source + " is both tiled and not");
    }

    /**
     * timm names to ours: a fused {@code qkv} split into q, k and v along its first axis; the buffers
     * the model rebuilds dropped ({@link Checkpoints#isRebuiltBuffer}).
     */
    private static Map<String, Shape> timmShapes(String source, List<Tensor> tensors) {
        var out = new LinkedHashMap<String, Shape>();
        for (Tensor t : tensors) {
            if (Checkpoints.isRebuiltBuffer(t.name())) {
                continue;
            }
            int at = t.name().indexOf(".attn.qkv.");
            if (at < 0) {
                out.put(t.name(), t.shape());
                continue;
            }
            Shape s = t.shape();
            if (s.dimension() == 0 || s.get(0) % 3 != 0) {
                throw problem(source, "tensor '" + t.name() + "' of shape " + s
                        + " cannot be split into q, k and v: its first axis is not a multiple of 3");
            }
            long[] dims = s.getShape().clone();
            dims[0] /= 3;
            String prefix = t.name().substring(0, at) + ".attn.";
            String leaf = t.name().substring(t.name().lastIndexOf('.') + 1);
            for (String op : List.of("q", "k", "v")) {
                out.put(prefix + op + "." + leaf, new Shape(dims));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ npz

    private static final int EOCD = 0x06054b50;
    private static final int ZIP64_LOCATOR = 0x07064b50;
    private static final int ZIP64_EOCD = 0x06064b50;
    private static final int CENTRAL = 0x02014b50;
    private static final long U32 = 0xffffffffL;

    /**
     * A zip: its central directory must be complete and lie within the file, every entry's data
     * before it; PyTorch's zip format (a {@code data.pkl} inside) is a pickle; every entry must be a
     * {@code .npy} array whose name Google's layout maps to ours.
     */
    private static CheckpointHeader npz(Source in, String source, long length, byte[] first) throws IOException {
        int tailLength = (int) Math.min(length, 22 + 0xffff + 20);
        byte[] tail = new byte[tailLength];
        in.readFully(length - tailLength, tail);
        ByteBuffer t = ByteBuffer.wrap(tail).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = -1;
        for (int i = tailLength - 22; i >= 0; i--) {
            if (t.getInt(i) == EOCD && i + 22 + (t.getShort(i + 20) & 0xffff) == tailLength) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) {
            throw problem(source, "it starts as a zip (npz) but is not a complete one: no end-of-central-directory record"
                    + " in its last " + tailLength + " bytes (truncated?)");
        }
        long eocdAt = length - tailLength + eocd;
        long entries = t.getShort(eocd + 10) & 0xffff;
        long cdSize = t.getInt(eocd + 12) & U32;
        long cdOffset = t.getInt(eocd + 16) & U32;
        long cdLimit = eocdAt;
        if (entries == 0xffff || cdSize == U32 || cdOffset == U32) {
            if (eocd < 20 || t.getInt(eocd - 20) != ZIP64_LOCATOR) {
                throw problem(source, "its zip directory needs zip64 fields but has no zip64 locator (corrupt npz)");
            }
            long recordAt = t.getLong(eocd - 20 + 8);
            if (recordAt < 0 || recordAt + 56 > eocdAt - 20) {
                throw problem(source, "its zip64 directory record at byte " + recordAt + " lies outside the file");
            }
            byte[] record = new byte[56];
            in.readFully(recordAt, record);
            ByteBuffer r = ByteBuffer.wrap(record).order(ByteOrder.LITTLE_ENDIAN);
            if (r.getInt(0) != ZIP64_EOCD) {
                throw problem(source, "no zip64 directory record at byte " + recordAt + " (corrupt npz)");
            }
            entries = r.getLong(32);
            cdSize = r.getLong(40);
            cdOffset = r.getLong(48);
            cdLimit = recordAt;
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize < cdOffset || cdOffset + cdSize > cdLimit) {
            throw problem(source, "its zip directory claims bytes [" + cdOffset + ", " + (cdOffset + cdSize) + ") of a "
                    + length + "-byte file whose directory must end by byte " + cdLimit + " (corrupt npz)");
        }
        if (cdSize > MAX_HEADER_BYTES) {
            throw problem(source, "its zip directory claims " + cdSize + " bytes, more than the " + MAX_HEADER_BYTES
                    + " a checkpoint's directory may have");
        }
        byte[] directory = new byte[(int) cdSize];
        in.readFully(cdOffset, directory);
        ByteBuffer d = ByteBuffer.wrap(directory).order(ByteOrder.LITTLE_ENDIAN);
        var tensors = new ArrayList<Tensor>();
        var names = new HashSet<String>();
        String misfit = null; // reported after every entry is seen, so that a pickle anywhere is named as one
        int p = 0;
        for (long e = 0; e < entries; e++) {
            if (p + 46 > directory.length || d.getInt(p) != CENTRAL) {
                throw problem(source, "its zip directory ends after " + e + " of the " + entries + " entries it announces"
                        + " (corrupt npz)");
            }
            int flags = d.getShort(p + 8) & 0xffff;
            int method = d.getShort(p + 10) & 0xffff;
            long compressed = d.getInt(p + 20) & U32;
            long uncompressed = d.getInt(p + 24) & U32;
            int nameLength = d.getShort(p + 28) & 0xffff;
            int extraLength = d.getShort(p + 30) & 0xffff;
            int commentLength = d.getShort(p + 32) & 0xffff;
            long local = d.getInt(p + 42) & U32;
            if (p + 46 + nameLength + extraLength + commentLength > directory.length) {
                throw problem(source, "its zip directory's entry " + e + " runs past the directory's end (corrupt npz)");
            }
            String name = new String(directory, p + 46, nameLength, StandardCharsets.UTF_8);
            // zip64: the fields stored as 0xffffffff follow, 8 bytes each, in an extra field of id 1
            int x = p + 46 + nameLength;
            int xEnd = x + extraLength;
            while (x + 4 <= xEnd) {
                int id = d.getShort(x) & 0xffff;
                int size = d.getShort(x + 2) & 0xffff;
                if (id == 1) {
                    int q = x + 4;
                    if (uncompressed == U32 && q + 8 <= x + 4 + size) {
                        uncompressed = d.getLong(q);
                        q += 8;
                    }
                    if (compressed == U32 && q + 8 <= x + 4 + size) {
                        compressed = d.getLong(q);
                        q += 8;
                    }
                    if (local == U32 && q + 8 <= x + 4 + size) {
                        local = d.getLong(q);
                    }
                }
                x += 4 + size;
            }
            p = xEnd + commentLength;
            if (name.endsWith(".pkl")) {
                throw Checkpoints.pickle(source, "a Python pickle (a PyTorch checkpoint in torch.save's zip format,"
                        + " holding " + name + ")");
            }
            if (!name.endsWith(".npy")) {
                misfit = misfit != null ? misfit
                        : "it is a zip but holds '" + name + "', not a .npy array: not a NumPy .npz checkpoint";
                continue;
            }
            if ((flags & 1) != 0) {
                throw problem(source, "its array '" + name + "' is encrypted");
            }
            if (method != 0 && method != 8) {
                throw problem(source, "its array '" + name + "' is compressed with zip method " + method
                        + "; only stored and deflated arrays are read");
            }
            if (method == 0 && (flags & 8) != 0) {
                throw problem(source, "its array '" + name + "' is stored with a trailing data descriptor, which Java's zip"
                        + " stream reader refuses: save it with numpy.savez to a file");
            }
            if (local < 0 || compressed < 0 || local + 30 + nameLength + compressed > cdOffset) {
                throw problem(source, "its array '" + name + "' claims bytes [" + local + ", " + (local + 30 + nameLength
                        + compressed) + ") of a " + length + "-byte file, past the zip directory at byte " + cdOffset
                        + " (truncated or corrupt npz)");
            }
            // DJL names an array by its entry, less ".npy" unless it starts with "arr_"
            String array = name.startsWith("arr_") ? name : name.substring(0, name.length() - 4);
            if (!names.add(array)) {
                throw problem(source, "it holds array '" + array + "' twice");
            }
            tensors.add(new Tensor(array, null, null, -1, -1));
        }
        if (misfit != null) {
            throw problem(source, misfit);
        }
        var ours = new LinkedHashMap<String, Shape>();
        for (Tensor tensor : tensors) {
            ours.put(Checkpoints.fromGoogleName(tensor.name(), source), null);
        }
        return new CheckpointHeader(source, Checkpoints.Format.NPZ, length, first.length + tailLength + cdSize, tensors,
                ours);
    }

    // ------------------------------------------------------------------ messages

    /** The one-line error for a checkpoint's problem. */
    static IllegalArgumentException problem(String source, String what) {
        return new IllegalArgumentException("checkpoint " + source + " is not usable: " + what);
    }

    private static IllegalArgumentException neither(String source, byte[] first, String why) {
        return new IllegalArgumentException(source + " is neither safetensors nor npz (first bytes "
                + HexFormat.of().formatHex(first, 0, Math.min(8, first.length)) + (why == null ? ")" : "): " + why));
    }

    private static String printable(String text) {
        String s = text.length() > 16 ? text.substring(0, 16) + "..." : text;
        return s.replaceAll("\\p{Cntrl}", "?");
    }

    private static String abbreviate(JsonElement value) {
        String s = value.toString();
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }

    /** Gson's message, its first line, without its advice to parse leniently. */
    private static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        m = nl < 0 ? m : m.substring(0, nl);
        return m.replaceAll("Use JsonReader\\.set\\w+\\([^)]*\\) to accept ", "").strip();
    }
}
