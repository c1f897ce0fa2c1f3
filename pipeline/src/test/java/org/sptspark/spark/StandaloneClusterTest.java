package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.TaskSpec;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;

/**
 * The sensitivity job on a real Spark standalone cluster ({@link StandaloneCluster}: a Master and
 * two Workers as separate JVMs on 127.0.0.1), one Worker killed with its executor while the job
 * runs. The scores must equal the single-process result.
 */
class StandaloneClusterTest {

    @TempDir
    static Path dir;

    static StandaloneCluster cluster;
    static Process killable;

    static final TaskSpec TASK = new TaskSpec("gen_dsprites_loc", 16, "structured", TaskSpec.Layout.VTAB, null, null);
    static final VitConfig TINY = new VitConfig("cluster_tiny", 32, 8, 3, 32, 2, 2, 64, 16, 1e-6, 0.1);

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = StandaloneCluster.startMaster(dir);
        for (int w = 0; w < 2; w++) {
            killable = cluster.startWorker("worker" + w, 1, List.of());
        }
        cluster.awaitWorkers(2, 90);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    void scoresSurviveAWorkerKilledMidJobAndEqualTheLocalResult() throws Exception {
        try (var writer = new VtabWriter(HadoopFiles.configuration(), dir.resolve("data").toString(), TASK.name())) {
            new StructuredTaskGenerator(StructuredTaskGenerator.Kind.DSPRITES_LOC, 32, 9).write(writer, 10);
            writer.commit();
        }
        Path checkpoint = dir.resolve("tiny.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoints.write(VisionTransformer.create(manager, TINY, 5), checkpoint);
        }
        String sha = Checkpoints.sha256(checkpoint);
        var request = new DistributedSensitivity.Request(TASK, dir.resolve("data").toString(), checkpoint.toString(), sha,
                TINY, Normalization.IMAGENET, 8, 12, 3, 6, 4_000);

        Map<Integer, double[]> local;
        SparkSession localSpark = LocalSpark.start("cluster-reference");
        try {
            local = DistributedSensitivity.sums(localSpark, request);
        } finally {
            localSpark.stop();
        }

        SparkSession spark = cluster.session("StandaloneClusterTest")
                .config("spark.executor.cores", "1")
                .config("spark.cores.max", "2")
                .config("spark.executor.memory", "1500m")
                .config("spark.task.maxFailures", "8")
                .getOrCreate();
        try {
            var killed = new AtomicBoolean();
            var scoringStages = java.util.concurrent.ConcurrentHashMap.<Integer>newKeySet();
            spark.sparkContext().addSparkListener(new SparkListener() {
                @Override
                public void onStageSubmitted(org.apache.spark.scheduler.SparkListenerStageSubmitted submitted) {
                    // the scoring stage and its reduce stage run one task per partition (6); the listing's count does not
                    if (submitted.stageInfo().numTasks() == request.partitions()) {
                        scoringStages.add(submitted.stageInfo().stageId());
                    }
                }

                @Override
                public void onTaskEnd(SparkListenerTaskEnd end) {
                    // once a scoring task has finished, take one worker and its executor away mid-job
                    if (scoringStages.contains(end.stageId()) && killed.compareAndSet(false, true)) {
                        StandaloneCluster.kill(killable);
                    }
                }
            });
            Map<Integer, double[]> clustered = DistributedSensitivity.sums(spark, request);
            assertTrue(killed.get(), "no worker was killed during the job");
            double maxDiff = 0;
            double maxRef = 0;
            for (var e : local.entrySet()) {
                double[] a = clustered.get(e.getKey());
                for (int i = 0; i < a.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(a[i] - e.getValue()[i]));
                    maxRef = Math.max(maxRef, Math.abs(e.getValue()[i]));
                }
            }
            assertTrue(maxDiff / maxRef <= 1e-9, "cluster scores differ from local by " + maxDiff / maxRef);
        } finally {
            spark.stop();
        }
    }
}
