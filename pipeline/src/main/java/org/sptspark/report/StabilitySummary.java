package org.sptspark.report;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.sptspark.lake.LakeFiles;
import org.sptspark.lake.LakeFormat;

/**
 * One task's sensitivity-stability study as the lake keeps it, format {@code spt-stability}
 * version 1: the score sets compared (batches, seed, their scores folder and plan) and the
 * {@link Stability.Comparison} of every pair that shares a seed or a batch count. Written by
 * {@code spt stability}, read by {@code spt report --stability} (and so by the notebooks).
 *
 * <p>Lake layout, beside the task's ordinary scores:
 * {@code <lake>/stability/<suite>/<task>/<preset>-<sha256[:12]>/} holds one scores folder per
 * setting, {@code scores-b<batches>x<batch size>-seed<seed>/} (the {@code spt-scores} format), and
 * one summary per rule and budget, {@code summary-<module>-<budget>.json}.
 *
 * @param k the top-k size of the comparisons
 * @param batchSize images per batch
 * @param scoredParameters the backbone's scored scalars (the Spearman correlation runs over all of them)
 * @param sets one per (batches, seed), the seed then the batch count ascending
 * @param wallSeconds the study's wall time, scoring included
 * @param createdAt ISO-8601 instant
 */
public record StabilitySummary(String suite, String task, String preset, String checkpointSha256, String module, int rank,
        String budget, long budgetTarget, long k, int batchSize, double dropPath, String precision, long scoredParameters,
        List<ScoreSet> sets, List<Stability.Comparison> comparisons, double wallSeconds, String createdAt) {

    public static final LakeFormat FORMAT = new LakeFormat("spt-stability", 1, "stability summary");

    /**
     * One score set and its plan.
     *
     * @param scoresId the committed scores' id
     * @param planK the plan's k (how many top scalars it distributed)
     * @param achieved the plan's trainable parameters (head excluded)
     * @param structuredMatrices the matrices the plan gives a module
     */
    public record ScoreSet(int batches, long seed, String scores, String scoresId, long planK, long achieved,
            List<String> structuredMatrices) {}

    public StabilitySummary {
        if (suite == null || task == null || preset == null || sets == null || comparisons == null) {
            throw new IllegalArgumentException("a stability summary names its suite, task, backbone, sets and comparisons");
        }
        sets = List.copyOf(sets);
        comparisons = List.copyOf(comparisons);
    }

    /** {@code <lake>/stability/<suite>/<task>/<preset>-<sha256[:12]>}. */
    public static String folder(String lake, String suite, String task, String preset, String checkpointSha256) {
        return new Path(new Path(new Path(new Path(lake, "stability"), suite), task),
                preset + "-" + checkpointSha256.substring(0, 12)).toString();
    }

    /** The scores folder of one setting inside {@link #folder}. */
    public static String scoresFolder(String folder, int batches, int batchSize, long seed) {
        return new Path(folder, "scores-b" + batches + "x" + batchSize + "-seed" + seed).toString();
    }

    /** The summary file of one rule and budget inside {@link #folder}. */
    public static String file(String folder, String module, String budget) {
        return new Path(folder, "summary-" + module + "-" + budget + ".json").toString();
    }

    /** Commits the summary (the file is its own manifest), replacing an earlier one; returns its file. */
    public String write(Configuration hadoop, String lake) {
        String file = file(folder(lake, suite, task, preset, checkpointSha256), module, budget);
        try {
            byte[] json = FORMAT.writeBytes(this);
            LakeFiles.commit(hadoop, new Path(file), List.of(), files -> json);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the stability summary " + file, e);
        }
    }

    /** Reads one summary file. */
    public static StabilitySummary read(Configuration hadoop, String file) {
        Path path = new Path(file);
        try (InputStream in = path.getFileSystem(hadoop).open(path)) {
            return FORMAT.read(new String(in.readAllBytes(), StandardCharsets.UTF_8), file, StabilitySummary.class);
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException("no stability summary at " + file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the stability summary " + file, e);
        }
    }

    /** Every summary in the lake, by suite, task, backbone and file name. */
    public static List<StabilitySummary> list(Configuration hadoop, String lake) {
        Path pattern = new Path(new Path(lake, "stability"), "*/*/*/summary-*.json");
        try {
            FileSystem fs = pattern.getFileSystem(hadoop);
            FileStatus[] found = fs.globStatus(pattern);
            var out = new ArrayList<StabilitySummary>();
            if (found != null) {
                java.util.Arrays.sort(found);
                for (FileStatus f : found) {
                    out.add(read(hadoop, f.getPath().toString()));
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the stability summaries under " + lake, e);
        }
    }

    /** The column headers of {@link #csv}. */
    static final String CSV_HEADER = "suite,task,backbone,module,budget,k,batches_a,seed_a,batches_b,seed_b,varies,"
            + "topk_overlap,spearman,structured_a,structured_b,structured_jaccard,decision_agreement";

    /** Summaries in {@code markdown}, {@code csv} or {@code json}, as {@link #markdown}, {@link #csv} and {@link #json} print them. */
    public static String render(List<StabilitySummary> summaries, String format) {
        return switch (format) {
            case "markdown" -> markdown(summaries);
            case "csv" -> csv(summaries);
            case "json" -> json(summaries);
            default -> throw new IllegalArgumentException("unknown format '" + format + "': choose markdown, csv or json");
        };
    }

    /** Summaries as Markdown: per summary, its settings and one row per comparison. */
    public static String markdown(List<StabilitySummary> summaries) {
        var sb = new StringBuilder();
        for (StabilitySummary s : summaries) {
            sb.append(String.format(Locale.ROOT, "## Sensitivity stability: %s (%s), %s-%s, %s r%d at %s%n%n", s.task,
                    s.suite, s.preset, s.checkpointSha256.substring(0, 12), s.module, s.rank, s.budget));
            sb.append(String.format(Locale.ROOT, "Batches of %d, drop-path %s, %s; top-k overlap |A∩B|/k with k = %,d;"
                    + " Spearman over all %,d scored scalars; plans at %s (%,d).%n%n", s.batchSize, s.dropPath, s.precision,
                    s.k, s.scoredParameters, s.budget, s.budgetTarget));
            sb.append("| A | B | varies | top-k overlap | Spearman | modules A | modules B | modules' Jaccard"
                    + " | decisions agree |\n");
            sb.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for (Stability.Comparison c : s.comparisons) {
                sb.append(String.format(Locale.ROOT, "| %d b, seed %d | %d b, seed %d | %s | %.3f | %.3f | %d | %d | %.3f"
                        + " | %.3f |%n", c.batchesA(), c.seedA(), c.batchesB(), c.seedB(), c.varies(), c.topKOverlap(),
                        c.spearman(), c.structuredA(), c.structuredB(), c.structuredJaccard(), c.decisionAgreement()));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** Summaries as CSV: one row per comparison. */
    public static String csv(List<StabilitySummary> summaries) {
        var sb = new StringBuilder(CSV_HEADER).append('\n');
        for (StabilitySummary s : summaries) {
            for (Stability.Comparison c : s.comparisons) {
                sb.append(String.format(Locale.ROOT, "%s,%s,%s-%s,%s,%s,%d,%d,%d,%d,%d,%s,%.6f,%.6f,%d,%d,%.6f,%.6f%n",
                        s.suite, s.task, s.preset, s.checkpointSha256.substring(0, 12), s.module, s.budget, c.k(),
                        c.batchesA(), c.seedA(), c.batchesB(), c.seedB(), c.varies(), c.topKOverlap(), c.spearman(),
                        c.structuredA(), c.structuredB(), c.structuredJaccard(), c.decisionAgreement()));
            }
        }
        return sb.toString();
    }

    /** Summaries as JSON, {@code {"stability": [summary, ...]}}, each as its file holds it. */
    public static String json(List<StabilitySummary> summaries) {
        var array = new JsonArray();
        summaries.forEach(s -> array.add(FORMAT.withHeader(s)));
        var o = new JsonObject();
        o.add("stability", array);
        return new com.google.gson.GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
                .serializeSpecialFloatingPointValues().create().toJson(o) + "\n";
    }
}
