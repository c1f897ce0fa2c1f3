package org.sptspark.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sptspark.data.HadoopFiles;
import org.sptspark.data.Normalization;
import org.sptspark.data.StructuredTaskGenerator;
import org.sptspark.data.TaskSpec;
import org.sptspark.data.VtabWriter;
import org.sptspark.model.BackboneRef;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VisionTransformer;
import org.sptspark.model.VitConfig;
import org.sptspark.sensitivity.ScoresManifest;
import org.sptspark.sensitivity.ScoresStore;
import org.sptspark.sensitivity.SensitivityScores;

/** The sensitivity job with its data, checkpoint and lake on a real S3 endpoint (S3Proxy) through S3A. */
class S3SensitivityTest {

    @TempDir
    Path dir;

    static final TaskSpec TASK = new TaskSpec("gen_clevr_count", 8, "structured", TaskSpec.Layout.VTAB, null, null);
    static final VitConfig TINY = new VitConfig("s3_tiny", 32, 8, 3, 32, 2, 2, 64, 8, 1e-6, 0.1);

    @Test
    void dataCheckpointAndScoresOnS3GiveTheSameScoresAsLocalFiles() throws Exception {
        assumeTrue(Files.isRegularFile(S3Proxy.JAR), "run through Maven: the build copies S3Proxy to " + S3Proxy.JAR);
        try (var s3 = new S3Proxy(dir, "bucket")) {
            Configuration hadoop = HadoopFiles.configuration();
            s3.configure(hadoop);
            for (String root : new String[] {dir.resolve("data").toString(), "s3a://bucket/data"}) {
                try (var writer = new VtabWriter(hadoop, root, TASK.name())) {
                    new StructuredTaskGenerator(StructuredTaskGenerator.Kind.CLEVR_COUNT, 32, 4).write(writer, 5);
                    writer.commit();
                }
            }
            Path checkpoint = dir.resolve("tiny.safetensors");
            try (NDManager manager = NDManager.newBaseManager()) {
                Checkpoints.write(VisionTransformer.create(manager, TINY, 8), checkpoint);
            }
            var s3Checkpoint = new org.apache.hadoop.fs.Path("s3a://bucket/backbones/tiny.safetensors");
            s3Checkpoint.getFileSystem(hadoop).copyFromLocalFile(new org.apache.hadoop.fs.Path(checkpoint.toUri()), s3Checkpoint);
            String sha = Checkpoints.sha256(checkpoint);
            // the driver's check reads the header over S3A too, and refuses a truncated copy there in one line
            assertEquals(Checkpoints.Format.SAFETENSORS, CheckpointFiles.check(hadoop, s3Checkpoint.toString(), TINY).format());
            byte[] whole = Files.readAllBytes(checkpoint);
            var cut = new org.apache.hadoop.fs.Path("s3a://bucket/backbones/cut.safetensors");
            try (var out = cut.getFileSystem(hadoop).create(cut)) {
                out.write(whole, 0, whole.length / 2);
            }
            var e = assertThrows(IllegalArgumentException.class, () -> CheckpointFiles.check(hadoop, cut.toString(), TINY));
            assertEquals("checkpoint " + cut + " is not usable: it is truncated: the file ends at byte " + whole.length / 2
                    + ", its header promises " + whole.length, e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> CheckpointFiles.check(hadoop, "s3a://bucket/backbones/none.safetensors", TINY));
            assertEquals("checkpoint s3a://bucket/backbones/none.safetensors does not exist", e.getMessage());

            SparkSession spark = LocalSpark.start("S3SensitivityTest");
            try {
                s3.configure(spark.sparkContext().hadoopConfiguration());
                var local = DistributedSensitivity.run(spark, new DistributedSensitivity.Request(TASK,
                        dir.resolve("data").toString(), checkpoint.toString(), sha, TINY, Normalization.IMAGENET, 8, 3, 1, 2,
                        10_000));
                var remote = DistributedSensitivity.run(spark, new DistributedSensitivity.Request(TASK, "s3a://bucket/data",
                        s3Checkpoint.toString(), sha, TINY, Normalization.IMAGENET, 8, 3, 1, 2, 10_000));
                String folder = ScoresStore.folder("s3a://bucket/lake", "demo", TASK.name(), TINY.name(), sha);
                var provenance = ScoresManifest.of(new BackboneRef(null, TINY, null, null), null);
                ScoresStore.write(spark.sparkContext().hadoopConfiguration(), folder, remote.scores(), provenance);
                assertTrue(ScoresStore.committed(spark.sparkContext().hadoopConfiguration(), folder));
                SensitivityScores back = ScoresStore.read(spark.sparkContext().hadoopConfiguration(), folder);
                for (String name : local.scores().scores().keySet()) {
                    assertArrayEquals(local.scores().get(name), back.get(name), name);
                }
                // the objects really are in the S3 server's store
                assertTrue(Files.isRegularFile(dir.resolve("s3-store/bucket/lake/sensitivity/demo/gen_clevr_count")
                        .resolve(TINY.name() + "-" + sha.substring(0, 12)).resolve(ScoresStore.MANIFEST)));
            } finally {
                spark.stop();
            }
        }
    }
}
