package org.sptspark.spark;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;

/**
 * A real S3 server for tests: S3Proxy (Maven Central, copied to {@code target/s3proxy} by the
 * build) in its own JVM on 127.0.0.1 with a filesystem store, and the S3A settings to reach it.
 * The access key and secret are random per run: they protect nothing and are never real.
 */
public final class S3Proxy implements AutoCloseable {

    public static final Path JAR = Path.of("target/s3proxy/s3proxy.jar");

    private final Process process;
    private final String endpoint;
    private final String accessKey = "test-" + UUID.randomUUID();
    private final String secretKey = UUID.randomUUID().toString();

    /** Starts the server with the given buckets, waiting until it answers. */
    public S3Proxy(Path dir, String... buckets) throws Exception {
        int port;
        try (var socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        endpoint = "http://127.0.0.1:" + port;
        Path store = Files.createDirectories(dir.resolve("s3-store"));
        for (String bucket : buckets) {
            Files.createDirectories(store.resolve(bucket));
        }
        Path properties = dir.resolve("s3proxy.properties");
        Files.writeString(properties, String.join("\n",
                "s3proxy.endpoint=" + endpoint,
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=" + accessKey,
                "s3proxy.credential=" + secretKey,
                "jclouds.provider=filesystem",
                "jclouds.filesystem.basedir=" + store) + "\n");
        process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-jar", JAR.toString(), "--properties", properties.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("s3proxy.log").toFile()).start();
        var http = HttpClient.newHttpClient();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                http.send(HttpRequest.newBuilder(URI.create(endpoint + "/")).build(), HttpResponse.BodyHandlers.discarding());
                return; // any HTTP answer (403 without credentials) means it is up
            } catch (IOException e) {
                if (System.nanoTime() > deadline || !process.isAlive()) {
                    close();
                    throw new IllegalStateException("S3Proxy did not start: " + Files.readString(dir.resolve("s3proxy.log")));
                }
                Thread.sleep(200);
            }
        }
    }

    /** Points S3A at this server. */
    public void configure(Configuration hadoop) {
        settings().forEach(hadoop::set);
    }

    /** The S3A settings that reach this server, as {@link #configure} sets them (without {@code spark.hadoop.}). */
    public java.util.Map<String, String> settings() {
        var s = new java.util.LinkedHashMap<String, String>();
        s.put("fs.s3a.endpoint", endpoint);
        s.put("fs.s3a.endpoint.region", "us-east-1");
        s.put("fs.s3a.path.style.access", "true");
        s.put("fs.s3a.connection.ssl.enabled", "false");
        s.put("fs.s3a.aws.credentials.provider", "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
        s.put("fs.s3a.access.key", accessKey);
        s.put("fs.s3a.secret.key", secretKey);
        // a test fails fast instead of retrying a dead endpoint for minutes
        s.put("fs.s3a.attempts.maximum", "2");
        s.put("fs.s3a.retry.limit", "2");
        return s;
    }

    /** The access key this server accepts (random per run). */
    public String accessKey() {
        return accessKey;
    }

    /** The secret key this server accepts (random per run). */
    public String secretKey() {
        return secretKey;
    }

    @Override
    public void close() {
        process.destroyForcibly();
        // Hadoop caches file systems by scheme and bucket: drop the cached s3a://bucket client, which
        // points at this server's port, so that the next test's server is the one used
        try {
            org.apache.hadoop.fs.FileSystem.closeAll();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
