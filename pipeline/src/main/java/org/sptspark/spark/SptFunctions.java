package org.sptspark.spark;

import java.util.List;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;

/**
 * The SQL function {@code spt_classify(task, content)}: one image's bytes through its task's
 * artifact, as {@link SptClassifier} does, returning a struct of {@code artifact_id},
 * {@code classes}, {@code probabilities} and {@code error} (the reason when the others are
 * null; a bad row never fails the query). It runs row at a time (a forward pass per image), so
 * for tables of many images {@link SptClassifier}, which batches, is the faster route.
 *
 * <p>From Java or Scala: {@code SptFunctions.register(spark, classifier)}. From PySpark or
 * SQL, with the jar on the class path and {@code spark.spt.backbone} and
 * {@code spark.spt.artifacts} (or {@code spark.spt.lake}, {@code run}, {@code method}) set:
 * {@code spark._jvm.org.sptspark.spark.SptFunctions.register(spark._jsparkSession)}.
 */
public final class SptFunctions {

    /** The function's name in SQL. */
    public static final String NAME = "spt_classify";

    /** What it returns. */
    public static final StructType RESULT = RoutedInference.schema("artifact_id", "classes", "probabilities", "error");

    private SptFunctions() {}

    /** Registers {@code spt_classify} for this session, with the classifier's artifacts and settings. */
    public static void register(SparkSession spark, SptClassifier classifier) {
        var settings = classifier.settings(spark, SptClassifier.ImageKind.BYTES, 0, 1, -1);
        spark.udf().register(NAME, new Classify(settings, ImageTable.hadoopConfiguration(spark)), RESULT);
    }

    /** Registers {@code spt_classify} configured from the session's {@code spark.spt.*} settings. */
    public static void register(SparkSession spark) {
        spark.udf().register(NAME, fromConf(spark));
    }

    private static final java.util.Map<java.util.Map<String, String>, UserDefinedFunction> BY_SETTINGS =
            new java.util.HashMap<>();

    /**
     * The function as the session's {@code spark.spt.*} settings configure it, made once per set of
     * settings (the artifacts are checked and the backbone's digest taken then).
     */
    static synchronized UserDefinedFunction fromConf(SparkSession spark) {
        var settings = new java.util.TreeMap<String, String>();
        // a stopped session's broadcast is gone: the function is made again for a new application
        settings.put("application", spark.sparkContext().applicationId());
        scala.collection.JavaConverters.mapAsJavaMap(spark.conf().getAll()).forEach((k, v) -> {
            if (k.startsWith("spark.spt.")) {
                settings.put(k, v);
            }
        });
        return BY_SETTINGS.computeIfAbsent(settings, k -> {
            var classifier = SptClassifier.fromConf(spark.conf());
            var s = classifier.settings(spark, SptClassifier.ImageKind.BYTES, 0, 1, -1);
            return functions.udf(new Classify(s, ImageTable.hadoopConfiguration(spark)), RESULT).withName(NAME);
        });
    }

    /** The function: decodes, routes and classifies one row on the executor's cached backbone. */
    static final class Classify implements UDF2<String, byte[], Row> {
        private static final long serialVersionUID = 1L;
        private final SptClassifier.Settings settings;
        private final Broadcast<SerializableConfiguration> hadoop;
        private transient RoutedInference inference;

        Classify(SptClassifier.Settings settings, Broadcast<SerializableConfiguration> hadoop) {
            this.settings = settings;
            this.hadoop = hadoop;
        }

        @Override
        public Row call(String task, byte[] content) {
            var input = RoutedInference.Input.decode(task, content, "row", settings.maxPixels());
            if (inference == null) {
                // as in the transformer, a bad row gets a reason; an artifact or backbone that cannot be read fails the query
                inference = RoutedInference.open(settings.router(), settings.device(), settings.precision(), settings.topK(),
                        settings.mode(), hadoop.value().value());
            }
            return RowFactory.create(inference.classify(List.of(input)).get(0).values());
        }
    }
}
