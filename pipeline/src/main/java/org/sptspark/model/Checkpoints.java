package org.sptspark.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.sptspark.lake.Digests;

/**
 * Checkpoint input and output through DJL's own safetensors and npz codecs.
 *
 * <p>Reading accepts timm-named safetensors (F32, F16, BF16; a fused {@code qkv} is split into
 * q, k, v) and Google's ViT {@code .npz} (Flax layout: kernels transposed, attention kernels per
 * head). Writing produces F32 safetensors with timm's names and a fused {@code qkv}, loadable by
 * timm. Pickle files are refused: unpickling executes code.
 */
public final class Checkpoints {

    /** The documented conversion of a PyTorch pickle checkpoint, run outside this project. */
    public static final String PICKLE_CONVERSION = "python -c \"import torch; from safetensors.torch import save_file; "
            + "sd = torch.load('IN.pth', map_location='cpu', weights_only=True); "
            + "sd = sd.get('model', sd.get('state_dict', sd)); "
            + "save_file({k.removeprefix('module.'): v.float().contiguous() for k, v in sd.items()}, 'OUT.safetensors')\"";

    /** Checkpoint file formats. */
    public enum Format { SAFETENSORS, NPZ }

    /** What to do with the classification head found in a checkpoint. */
    public enum HeadPolicy {
        /** The checkpoint must hold a head of the model's shape; it is loaded. */
        LOAD,
        /** Head tensors in the checkpoint (and Google's {@code pre_logits}) are ignored; the model's head stays. */
        DROP
    }

    private static final Pattern BLOCK = Pattern.compile("blocks\\.(\\d{1,6})\\..*");
    private static final Pattern GOOGLE_BLOCK = Pattern.compile("Transformer/encoderblock_(\\d+)/(.*)");

    private Checkpoints() {}

    /** Reads a checkpoint file; see {@link #read(InputStream, String, NDManager)}. */
    public static StateDict read(Path path, NDManager manager) throws IOException {
        refusePickleName(path.getFileName().toString());
        try (InputStream in = Files.newInputStream(path)) {
            return read(in, path.toString(), manager);
        }
    }

    /**
     * Reads every tensor of a safetensors or npz checkpoint into {@code manager} as float32, in our
     * naming. The stream is read to its end and not closed.
     *
     * @param source the file's name or URI, for messages
     * @throws IllegalArgumentException for a pickle, an unknown format or a malformed file
     */
    public static StateDict read(InputStream raw, String source, NDManager manager) throws IOException {
        refusePickleName(source);
        MessageDigest sha = Digests.sha256();
        var in = new BufferedInputStream(new DigestInputStream(raw, sha), 1 << 20);
        Format format = sniff(in, source);
        NDList list;
        try {
            list = NDList.decode(widenBf16(manager), in);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("cannot decode " + format + " checkpoint " + source + ": " + e.getMessage(), e);
        }
        in.transferTo(OutputStream.nullOutputStream());
        var raw32 = new LinkedHashMap<String, NDArray>();
        for (NDArray a : list) {
            NDArray f = a.getDataType() == DataType.FLOAT32 ? a : a.toType(DataType.FLOAT32, false);
            if (f != a) {
                a.close();
            }
            raw32.put(a.getName(), f);
        }
        Map<String, NDArray> named = format == Format.NPZ ? fromGoogle(raw32, source) : fromTimm(raw32);
        return new StateDict(named, source, format, HexFormat.of().formatHex(sha.digest()));
    }

    /**
     * Copies a state dict into the model's parameters, strictly: every model tensor must be present
     * with its exact shape (the head according to {@code headPolicy}), and nothing else may be.
     *
     * @throws IllegalArgumentException naming the checkpoint and every offending tensor
     */
    public static void load(Backbone model, StateDict dict, HeadPolicy headPolicy) {
        var shapes = new LinkedHashMap<String, Shape>();
        dict.tensors().forEach((name, a) -> shapes.put(name, a.getShape()));
        requireFits(model.config(), model.space(), shapes, dict.source(), headPolicy);
        for (TensorSpec t : model.space().tensors()) {
            NDArray a = dict.tensors().get(t.name());
            if (a != null && !(isClassifierKey(t.name()) && headPolicy == HeadPolicy.DROP)) {
                Tensors.assign(model.parameter(t.name()).getArray(), a.toFloatArray());
            }
        }
    }

    /**
     * The strict fit of a checkpoint's tensors (our names, with their shapes; a null shape is not
     * checked) to a model: its architecture first, naming a preset that fits, then every missing,
     * unexpected or misshapen tensor, the head according to {@code headPolicy}. What {@link #load}
     * checks on the tensors and {@link CheckpointHeader#requireFits} on a header.
     *
     * @throws IllegalArgumentException in one line naming the checkpoint and every offending tensor
     */
    static void requireFits(BackboneConfig config, ParameterSpace space, Map<String, Shape> shapes, String source,
            HeadPolicy headPolicy) {
        checkFamily(config, shapes, source);
        if (config instanceof VitConfig vit) {
            checkArchitecture(vit, shapes, source);
        } else {
            checkPreset(config, space, shapes, source);
        }
        List<String> problems = new ArrayList<>();
        var unexpected = new TreeSet<String>();
        for (String name : shapes.keySet()) {
            if (isClassifierKey(name)) {
                if (headPolicy == HeadPolicy.LOAD && space.find(name).isEmpty()) {
                    unexpected.add(name);
                }
            } else if (space.find(name).isEmpty()) {
                unexpected.add(name);
            }
        }
        if (!unexpected.isEmpty()) {
            problems.add("unexpected tensors " + unexpected);
        }
        for (TensorSpec t : space.tensors()) {
            if (isClassifierKey(t.name()) && headPolicy == HeadPolicy.DROP) {
                continue;
            }
            if (!shapes.containsKey(t.name())) {
                problems.add("missing tensor '" + t.name() + "' " + t.shape());
            } else {
                Shape shape = shapes.get(t.name());
                if (shape != null && !shape.equals(t.shape())) {
                    problems.add("tensor '" + t.name() + "' has shape " + shape + " but " + config.name()
                            + (isClassifierKey(t.name()) ? " with " + config.numClasses() + " classes" : "") + " expects "
                            + t.shape());
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("checkpoint " + source + " does not fit " + config.name() + ": "
                    + String.join("; ", problems));
        }
    }

    /**
     * Writes the model as F32 safetensors with timm's names, q, k and v fused into {@code qkv}. The
     * stream is not closed.
     */
    public static void write(Backbone model, OutputStream out) throws IOException {
        var params = model.namedParameters();
        try (NDManager scratch = model.manager().newSubManager()) {
            NDList list = new NDList();
            for (var e : params.entrySet()) {
                String name = e.getKey();
                String op = model.space().get(name).operation();
                if (op.equals("k") || op.equals("v")) {
                    continue;
                }
                NDArray value;
                if (op.equals("q")) {
                    String prefix = name.substring(0, name.length() - ("q." + suffix(name)).length());
                    String s = suffix(name);
                    value = NDArrays.concat(new NDList(params.get(prefix + "q." + s).getArray(),
                            params.get(prefix + "k." + s).getArray(), params.get(prefix + "v." + s).getArray()), 0);
                    value.attach(scratch);
                    name = prefix + "qkv." + s;
                } else {
                    value = e.getValue().getArray().duplicate();
                    value.attach(scratch);
                }
                value.setName(name);
                list.add(value);
            }
            list.encode(out, NDList.Encoding.SAFETENSORS);
        }
    }

    /** Writes the model to a file; see {@link #write(Backbone, OutputStream)}. */
    public static void write(Backbone model, Path path) throws IOException {
        try (OutputStream out = Files.newOutputStream(path)) {
            write(model, out);
        }
    }

    /** Hex SHA-256 of a file. */
    public static String sha256(Path path) throws IOException {
        try (InputStream in = Files.newInputStream(path)) {
            return sha256(in);
        }
    }

    /** Hex SHA-256 of a stream's remaining bytes; the stream is read to its end, not closed. */
    public static String sha256(InputStream stream) throws IOException {
        return Digests.sha256Hex(stream);
    }

    /**
     * Whether a checkpoint key belongs to the classifier: our head ({@link ParameterSpace#isHead})
     * or timm's {@code pre_logits} layer, which some checkpoints carry before it.
     */
    static boolean isClassifierKey(String name) {
        return ParameterSpace.isHead(name) || name.startsWith("pre_logits.");
    }

    /**
     * Whether a checkpoint key is a buffer the model computes from its architecture instead of
     * loading: Swin's {@code relative_position_index} and shifted-window {@code attn_mask}, which
     * older timm versions saved in the state dict.
     */
    static boolean isRebuiltBuffer(String name) {
        return name.endsWith(".relative_position_index") || name.endsWith(".attn_mask");
    }

    private static String suffix(String name) {
        return name.substring(name.lastIndexOf('.') + 1);
    }

    /** Compares the architecture the checkpoint implies with the requested one, naming a preset that fits. */
    private static void checkArchitecture(VitConfig config, Map<String, Shape> shapes, String source) {
        Shape cls = shapes.get("cls_token");
        Shape pos = shapes.get("pos_embed");
        Shape patch = shapes.get("patch_embed.proj.weight");
        if (cls == null || pos == null || patch == null || cls.dimension() != 3 || pos.dimension() != 3
                || patch.dimension() != 4) {
            return; // the per-tensor check reports what is missing or misshapen
        }
        int depth = depthOf(shapes.keySet());
        long dim = cls.get(2);
        long tokens = pos.get(1);
        long patchSize = patch.get(2);
        if (dim == config.embedDim() && depth == config.depth() && tokens == config.numTokens()
                && patchSize == config.patchSize()) {
            return;
        }
        String fits = VitPresets.names().stream().map(VitPresets::get)
                .filter(c -> c.embedDim() == dim && c.depth() == depth && c.patchSize() == patchSize)
                .map(VitConfig::name).findFirst().map(n -> " (like preset " + n + ")").orElse("");
        throw new IllegalArgumentException(String.format(Locale.ROOT,
                "checkpoint %s holds a ViT with width %d, depth %d, patch %d and %d tokens%s, but preset %s has width %d,"
                        + " depth %d, patch %d and %d tokens: choose the preset that matches the checkpoint",
                source, dim, depth, patchSize, tokens, fits, config.name(), config.embedDim(), config.depth(),
                config.patchSize(), config.numTokens()));
    }

    /** A checkpoint of another family than the preset's (told by its names) is refused naming the family. */
    private static void checkFamily(BackboneConfig config, Map<String, Shape> shapes, String source) {
        String family = shapes.containsKey("cls_token") ? "vit"
                : shapes.keySet().stream().anyMatch(n -> n.startsWith("layers.")) ? "swin"
                : shapes.keySet().stream().anyMatch(n -> n.startsWith("stages.")) ? "convnext" : null;
        if (family != null && !family.equals(config.family())) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                    "checkpoint %s holds a %s model, but preset %s is a %s: choose a %s preset", source, family,
                    config.name(), config.family(), family));
        }
    }

    /**
     * For a Swin or ConvNeXt: a checkpoint whose backbone tensors (the head aside) are another
     * preset's, name for name and shape for shape, is refused naming that preset. Anything else is
     * left to the per-tensor check.
     */
    private static void checkPreset(BackboneConfig config, ParameterSpace space, Map<String, Shape> shapes,
            String source) {
        if (fitsBackbone(space, shapes)) {
            return;
        }
        BackbonePresets.names().stream().map(BackbonePresets::get)
                .filter(c -> c.family().equals(config.family()) && fitsBackbone(c.space(), shapes))
                .findFirst().ifPresent(c -> {
                    throw new IllegalArgumentException(String.format(Locale.ROOT,
                            "checkpoint %s holds the backbone of preset %s, not of %s: choose the preset that matches"
                                    + " the checkpoint", source, c.name(), config.name()));
                });
    }

    /** Whether the checkpoint's non-head tensors are exactly {@code space}'s backbone tensors, shapes included. */
    private static boolean fitsBackbone(ParameterSpace space, Map<String, Shape> shapes) {
        var names = new TreeSet<String>();
        shapes.keySet().stream().filter(n -> !isClassifierKey(n)).forEach(names::add);
        var backbone = space.backbone();
        if (names.size() != backbone.size()) {
            return false;
        }
        for (TensorSpec t : backbone) {
            Shape shape = shapes.get(t.name());
            if (!names.contains(t.name()) || (shape != null && !shape.equals(t.shape()))) {
                return false;
            }
        }
        return true;
    }

    private static int depthOf(java.util.Collection<String> names) {
        int depth = 0;
        for (String name : names) {
            Matcher m = BLOCK.matcher(name);
            if (m.matches()) {
                depth = Math.max(depth, Integer.parseInt(m.group(1)) + 1);
            }
        }
        return depth;
    }

    /**
     * timm names as they are, but a fused {@code qkv} split into q, k and v along the output axis, and
     * the buffers timm's Swin may save dropped ({@link #isRebuiltBuffer}): the model rebuilds them.
     */
    private static Map<String, NDArray> fromTimm(Map<String, NDArray> in) {
        var out = new LinkedHashMap<String, NDArray>();
        for (var e : in.entrySet()) {
            String name = e.getKey();
            NDArray a = e.getValue();
            if (isRebuiltBuffer(name)) {
                a.close();
                continue;
            }
            int at = name.indexOf(".attn.qkv.");
            if (at < 0) {
                out.put(name, a);
                continue;
            }
            if (a.getShape().get(0) % 3 != 0) {
                throw new IllegalArgumentException("tensor '" + name + "' of shape " + a.getShape()
                        + " cannot be split into q, k and v: its first axis is not a multiple of 3");
            }
            String prefix = name.substring(0, at) + ".attn.";
            String s = suffix(name);
            NDList parts = a.split(3, 0);
            String[] ops = {"q", "k", "v"};
            for (int i = 0; i < 3; i++) {
                NDArray part = parts.get(i).duplicate();
                part.attach(a.getManager());
                out.put(prefix + ops[i] + "." + s, part);
            }
            parts.close();
            a.close();
        }
        return out;
    }

    /** Google's Flax names and layouts to ours. */
    private static Map<String, NDArray> fromGoogle(Map<String, NDArray> in, String source) {
        var out = new LinkedHashMap<String, NDArray>();
        for (var e : in.entrySet()) {
            String name = e.getKey();
            NDArray a = e.getValue();
            String ours = fromGoogleName(name, source);
            NDArray value = a;
            if (ours.contains(".attn.")) {
                if (ours.endsWith(".weight")) {
                    // query/key/value (D, H, Dh) and out (H, Dh, D): flatten the head axes, then (in, out) -> (out, in)
                    Shape s = a.getShape();
                    long fanIn = ours.contains(".attn.proj.") ? s.size() / s.get(s.dimension() - 1) : s.get(0);
                    value = a.reshape(fanIn, s.size() / fanIn).transpose();
                } else {
                    value = a.reshape(a.getShape().size());
                }
            } else if (ours.contains(".mlp.") && ours.endsWith(".weight")) {
                value = a.transpose();
            } else if (ours.equals("patch_embed.proj.weight")) {
                value = a.transpose(3, 2, 0, 1); // HWIO -> OIHW
            } else if (ours.equals("head.weight")) {
                value = a.transpose();
            }
            if (value != a) {
                // a contiguous copy, so later reads see the new layout
                NDArray copy = value.duplicate();
                copy.attach(a.getManager());
                value.close();
                a.close();
                value = copy;
            }
            out.put(ours, value);
        }
        return out;
    }

    /**
     * A Google (Flax) array's name in ours, e.g. {@code Transformer/encoderblock_3/MlpBlock_3/Dense_0/kernel}
     * to {@code blocks.3.mlp.fc1.weight}.
     *
     * @throws IllegalArgumentException for a name outside Google's ViT layout
     */
    static String fromGoogleName(String name, String source) {
        Matcher m = GOOGLE_BLOCK.matcher(name);
        if (m.matches()) {
            String p = "blocks." + m.group(1) + ".";
            String[] parts = m.group(2).split("/");
            String module = parts[0];
            String leaf = parts[parts.length - 1];
            if (module.equals("LayerNorm_0") || module.equals("LayerNorm_2")) {
                return p + (module.equals("LayerNorm_0") ? "norm1." : "norm2.") + normLeaf(leaf, name, source);
            } else if (module.equals("MultiHeadDotProductAttention_1") && parts.length == 3) {
                String op = switch (parts[1]) {
                    case "query" -> "q";
                    case "key" -> "k";
                    case "value" -> "v";
                    case "out" -> "proj";
                    default -> throw unknown(name, source);
                };
                return p + "attn." + op + "." + linearLeaf(leaf, name, source);
            } else if (module.equals("MlpBlock_3") && parts.length == 3) {
                String fc = switch (parts[1]) {
                    case "Dense_0" -> "fc1";
                    case "Dense_1" -> "fc2";
                    default -> throw unknown(name, source);
                };
                return p + "mlp." + fc + "." + linearLeaf(leaf, name, source);
            }
            throw unknown(name, source);
        }
        return switch (name) {
            case "cls" -> "cls_token";
            case "Transformer/posembed_input/pos_embedding" -> "pos_embed";
            case "embedding/kernel" -> "patch_embed.proj.weight";
            case "embedding/bias" -> "patch_embed.proj.bias";
            case "Transformer/encoder_norm/scale" -> "norm.weight";
            case "Transformer/encoder_norm/bias" -> "norm.bias";
            case "head/kernel" -> "head.weight";
            case "head/bias" -> "head.bias";
            case "pre_logits/kernel" -> "pre_logits.weight";
            case "pre_logits/bias" -> "pre_logits.bias";
            default -> throw unknown(name, source);
        };
    }

    private static String normLeaf(String leaf, String name, String source) {
        return switch (leaf) {
            case "scale" -> "weight";
            case "bias" -> "bias";
            default -> throw unknown(name, source);
        };
    }

    private static String linearLeaf(String leaf, String name, String source) {
        return switch (leaf) {
            case "kernel" -> "weight";
            case "bias" -> "bias";
            default -> throw unknown(name, source);
        };
    }

    private static IllegalArgumentException unknown(String name, String source) {
        return new IllegalArgumentException("unexpected tensor '" + name + "' in Google ViT checkpoint " + source);
    }

    /** Refuses a file whose name says it is a pickle. */
    static void refusePickleName(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        for (String ext : List.of(".pth", ".pt", ".pkl", ".pth.tar", ".ckpt")) {
            if (lower.endsWith(ext)) {
                throw pickle(name, "a Python pickle (PyTorch .pth/.pt/.pkl/.ckpt, by its name)");
            }
        }
    }

    /**
     * The one-line refusal of a pickle, with the conversion to run outside.
     *
     * @param kind what the file is, e.g. "a PyTorch pickle in torch.save's zip format"
     */
    static IllegalArgumentException pickle(String source, String kind) {
        return new IllegalArgumentException(source + " is " + kind + ", not safetensors or npz: this project never loads"
                + " pickles, because unpickling executes code; convert it to safetensors once, outside, with: "
                + PICKLE_CONVERSION);
    }

    /**
     * Whether a file's first bytes are a plausible safetensors start: a little-endian header length
     * from 2 to 100 MB, then the header's '{'. Checked before the pickle opcode 0x80, which a header
     * length's low byte may equal (one Python-written safetensors file in 32: their headers are
     * padded to multiples of 8).
     */
    static boolean looksLikeSafetensors(byte[] head) {
        if (head.length < 9 || head[8] != '{') {
            return false;
        }
        long headerLength = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return headerLength > 1 && headerLength <= CheckpointHeader.MAX_HEADER_BYTES;
    }

    /**
     * Whether a file's first bytes are a pickle's: the PROTO opcode 0x80 and a protocol from 2 to 5,
     * as torch.save's legacy format starts, and not a plausible safetensors start.
     */
    static boolean looksLikePickle(byte[] head) {
        return head.length >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5 && !looksLikeSafetensors(head);
    }

    /** Tells the format from the first bytes, refusing pickles whatever their file name. */
    private static Format sniff(BufferedInputStream in, String source) throws IOException {
        in.mark(4096);
        byte[] head = in.readNBytes(4096);
        in.reset();
        if (looksLikePickle(head)) {
            throw pickle(source, "a Python pickle (a PyTorch checkpoint in torch.save's legacy format)");
        }
        if (head.length >= 30 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            int nameLength = (head[26] & 0xff) | (head[27] & 0xff) << 8;
            String first = new String(head, 30, Math.min(nameLength, head.length - 30), StandardCharsets.UTF_8);
            if (first.endsWith(".pkl")) {
                // torch.save's zip format holds data.pkl
                throw pickle(source, "a Python pickle (a PyTorch checkpoint in torch.save's zip format, holding " + first + ")");
            }
            return Format.NPZ;
        }
        if (looksLikeSafetensors(head)) {
            return Format.SAFETENSORS;
        }
        throw new IllegalArgumentException(source + " is neither safetensors nor npz (first bytes "
                + HexFormat.of().formatHex(head, 0, Math.min(8, head.length)) + ")");
    }

    /**
     * The PyTorch engine of DJL 0.35.1 aborts the JVM when asked to create a BF16 array, so DJL's
     * decoder gets a view of the manager that widens BF16 buffers to F32 (exact: BF16 is the top
     * half of an F32) before they reach the engine.
     */
    private static NDManager widenBf16(NDManager manager) {
        return (NDManager) Proxy.newProxyInstance(Checkpoints.class.getClassLoader(), new Class<?>[] {NDManager.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("create") && args != null && args.length == 3
                            && args[0] instanceof Buffer data && args[1] instanceof Shape shape
                            && args[2] == DataType.BFLOAT16) {
                        return manager.create(bf16ToF32((ByteBuffer) data), shape, DataType.FLOAT32);
                    }
                    try {
                        return method.invoke(manager, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    static FloatBuffer bf16ToF32(ByteBuffer data) {
        ByteBuffer le = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[le.remaining() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = Float.intBitsToFloat((le.getShort() & 0xffff) << 16);
        }
        return FloatBuffer.wrap(out);
    }
}
