package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The cause a failure shows, on the shapes Spark and Java really give it. */
class FailuresTest {

    static SparkSession spark;

    @BeforeAll
    static void start() {
        // one attempt per task (local[N] retries none): the job fails on the task's first exception
        spark = SparkSessions.get("FailuresTest", "local[1]");
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    /** The exception a one-task Spark job ends in when its task throws {@code thrown}. */
    static SparkException failedJob(Thrower thrown) {
        var jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        return assertThrows(SparkException.class, () -> jsc.parallelize(List.of(1), 1).map(x -> {
            if (x > 0) {
                throw thrown.get();
            }
            return x;
        }).collect());
    }

    @Test
    void anExecutorsIllegalArgumentIsShownAsBadInputThroughSparksException() {
        SparkException e = failedJob(() -> new IllegalArgumentException("budget '12q' is not a number"));
        assertTrue(e.getMessage().startsWith("Job aborted due to stage failure"), e.getMessage());
        Failures.Cause c = Failures.cause(e);
        assertEquals("budget '12q' is not a number", c.message());
        assertTrue(c.badInput());
        assertEquals(Failures.BAD_INPUT, c.exitCode());

        // the same failure as Spark gives it when it cannot ship the exception: as text in its message only
        Failures.Cause text = Failures.cause(new SparkException(e.getMessage()));
        assertEquals("budget '12q' is not a number", text.message());
        assertTrue(text.badInput());
        // and wrapped once more, as a driver-side future gives it
        assertEquals(c.message(), Failures.cause(new ExecutionException(e)).message());
    }

    /** An exception Spark cannot serialize reaches the driver as text only: its class name and message. */
    @Test
    void anExceptionSparkCannotShipIsReadFromTheMessage() {
        SparkException e = failedJob(() -> new UnshippableException("lake folder s3a://b/lake is not writable"));
        Failures.Cause c = Failures.cause(e);
        assertEquals("lake folder s3a://b/lake is not writable", c.message());
        assertTrue(c.badInput(), "an IllegalArgumentException subclass, found by its name: " + c);
        assertEquals(UnshippableException.class.getName(), c.parts().get(c.parts().size() - 1).type());
    }

    @Test
    void anInternalFailureOnAnExecutorNamesItsType() {
        SparkException e = failedJob(() -> new IllegalStateException("the backbone cache holds 2 models"));
        Failures.Cause c = Failures.cause(e);
        assertEquals("the backbone cache holds 2 models", c.message());
        assertFalse(c.badInput());
        assertEquals(Failures.INTERNAL, c.exitCode());
        Failures.Cause npe = Failures.cause(failedJob(() -> new NullPointerException("plan is null")));
        assertEquals("NullPointerException: plan is null", npe.message());
        assertEquals(Failures.INTERNAL, npe.exitCode());
    }

    @Test
    void textCausesAreTheFirstExceptionOfEachLineThatIsNotAWrapper() {
        String message = String.join("\n",
                "Job aborted due to stage failure: Task 0 in stage 3.0 failed 4 times, most recent failure: Lost task 0.3 in"
                        + " stage 3.0 (TID 9) (10.0.0.7 executor 2): org.apache.spark.SparkException: Task failed: "
                        + "java.lang.IllegalArgumentException: cannot read dataset /d: bad label 'x' at train800.txt:4",
                "\tat org.sptspark.data.DatasetReader.read(DatasetReader.java:80)",
                "\tSuppressed: java.io.IOException: close failed",
                "Caused by: java.lang.NumberFormatException: For input string: \"x\"",
                "\t... 12 more",
                "",
                "Driver stacktrace:",
                "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2856)",
                "Caused by: java.lang.IllegalStateException: not this one");
        var parts = Failures.fromText(message);
        assertEquals(List.of(new Failures.Part("java.lang.IllegalArgumentException",
                "cannot read dataset /d: bad label 'x' at train800.txt:4"),
                new Failures.Part("java.lang.NumberFormatException", "For input string: \"x\"")), parts);
        Failures.Cause c = Failures.cause(new SparkException(message));
        assertEquals("cannot read dataset /d: bad label 'x' at train800.txt:4: NumberFormatException: For input string: \"x\"",
                c.message());
        assertTrue(c.badInput());
        // no exception in the text: the wrapper's own first line
        assertEquals("Job 3 cancelled because SparkContext was shut down",
                Failures.cause(new SparkException("Job 3 cancelled because SparkContext was shut down")).message());
    }

    @Test
    void javasWrappersAreUnwrappedAndFileErrorsSayWhatTheyAre() {
        var missing = new UncheckedIOException("cannot read backbone /ckpt/vit.safetensors",
                new NoSuchFileException("/ckpt/vit.safetensors"));
        Failures.Cause c = Failures.cause(new ExecutionException(missing));
        assertEquals("cannot read backbone /ckpt/vit.safetensors: no such file or folder: /ckpt/vit.safetensors", c.message());
        assertTrue(c.badInput());
        // CompletableFuture's and a bare rethrow's wrappers: messages that are only their cause's
        var wrapped = new RuntimeException(new CompletionException(new IOException("disk full")));
        Failures.Cause io = Failures.cause(wrapped);
        assertEquals("disk full", io.message());
        assertFalse(io.badInput());
        // an inner message that repeats the outer one is shown once
        var repeated = new IllegalArgumentException("plan p.json: bad budget", new IllegalArgumentException("plan p.json: bad budget"));
        assertEquals("plan p.json: bad budget", Failures.cause(repeated).message());
        assertEquals("out of memory (Java heap space; give the JVM more with JAVA_OPTS=-Xmx...)",
                Failures.cause(new OutOfMemoryError("Java heap space")).message());
        assertEquals(Failures.INTERNAL, Failures.cause(new OutOfMemoryError("Java heap space")).exitCode());
    }

    @Test
    void theLineIsOneLineAndCarriesNoCredential() {
        var e = new IllegalArgumentException("cannot open ftp://reader:hunter2hunter2@files.example/x\n\tat a.B.c(B.java:1)\nsecond line");
        Failures.Cause c = Failures.cause(e);
        assertEquals("cannot open ftp://" + org.sptspark.lake.Secrets.MASK + "@files.example/x second line", c.message());
    }

    /** Makes the exception a task throws; it travels to the executor with the task. */
    @FunctionalInterface
    interface Thrower extends java.io.Serializable {
        RuntimeException get();
    }

    /** An IllegalArgumentException that Spark cannot serialize (it holds a plain Object). */
    static final class UnshippableException extends IllegalArgumentException {
        @SuppressWarnings("unused")
        private final Object lock = new Object();

        UnshippableException(String message) {
            super(message);
        }
    }
}
