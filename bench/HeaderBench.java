// One-off timing of the driver's checkpoint check (BENCHMARKS.md, "The driver's checkpoint check"):
//   mvn -q dependency:build-classpath -pl pipeline -Dmdep.outputFile=/tmp/cp.txt && mvn -q install -DskipTests
//   javac -d /tmp/hb -cp "$(cat /tmp/cp.txt):pipeline/target/classes" bench/HeaderBench.java
//   java -cp "$(cat /tmp/cp.txt):pipeline/target/classes:/tmp/hb" HeaderBench \
//       jobs/src/main/resources/org/sptspark/backbones/vit_demo_patch8_32.safetensors 1000
import java.nio.file.Path;
import java.util.Arrays;
import org.sptspark.model.CheckpointFiles;
import org.sptspark.model.CheckpointHeader;
import org.sptspark.model.Checkpoints;
import org.sptspark.model.VitPresets;

public class HeaderBench {
    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        var config = VitPresets.get(VitPresets.DEMO);
        var hadoop = new org.apache.hadoop.conf.Configuration();
        String uri = file.toAbsolutePath().toUri().toString();
        long t0 = System.nanoTime();
        CheckpointHeader first = CheckpointHeader.read(file).requireFits(config, Checkpoints.HeadPolicy.DROP);
        long coldNio = System.nanoTime() - t0;
        t0 = System.nanoTime();
        org.apache.hadoop.fs.FileSystem.get(java.net.URI.create(uri), hadoop);
        long fsInit = System.nanoTime() - t0;
        t0 = System.nanoTime();
        CheckpointFiles.check(hadoop, uri, config);
        long cold = System.nanoTime() - t0;
        int n = Integer.parseInt(args[1]);
        double[] nio = new double[n], hdfs = new double[n], sha = new double[5];
        for (int i = 0; i < n; i++) {
            long s = System.nanoTime();
            CheckpointHeader.read(file).requireFits(config, Checkpoints.HeadPolicy.DROP);
            nio[i] = (System.nanoTime() - s) / 1e6;
            s = System.nanoTime();
            CheckpointFiles.check(hadoop, uri, config);
            hdfs[i] = (System.nanoTime() - s) / 1e6;
        }
        for (int i = 0; i < sha.length; i++) {
            long s = System.nanoTime();
            CheckpointFiles.sha256(hadoop, uri);
            sha[i] = (System.nanoTime() - s) / 1e6;
        }
        Arrays.sort(nio); Arrays.sort(hdfs); Arrays.sort(sha);
        System.out.printf("file %d bytes, %d tensors, read %d bytes%n", first.fileBytes(), first.tensors().size(), first.bytesRead());
        System.out.printf("first call in a fresh JVM: %.1f ms (NIO); then Hadoop's local FileSystem init %.1f ms, first Hadoop call %.1f ms%n", coldNio / 1e6, fsInit / 1e6, cold / 1e6);
        System.out.printf("warm median over %d: nio %.3f ms (p90 %.3f), Hadoop file:// %.3f ms (p90 %.3f)%n", n, nio[n/2], nio[n*9/10], hdfs[n/2], hdfs[n*9/10]);
        System.out.printf("sha256 of the whole file (Hadoop file://), median of 5: %.1f ms%n", sha[2]);
    }
}
