package org.sptspark.lake;

import java.io.FileNotFoundException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSError;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * A local file system under the test scheme {@code faulty:} ({@code faulty:///tmp/x} is
 * {@code /tmp/x}) that can be made read-only or run out of space, for tests where chmod does not
 * stop writes (root) and a full disk cannot be arranged. It fails as Hadoop's local file system
 * does on a real disk: a full disk as an {@link FSError} around "No space left on device" from
 * the write that does not fit (after writing what does), a read-only one with
 * {@link FileNotFoundException} on create, {@code false} from mkdirs, rename and delete.
 * Settings are JVM-wide (the file system is cached once per JVM); {@link #reset} clears them.
 */
public class FaultyFileSystem extends RawLocalFileSystem {

    public static final String SCHEME = "faulty";

    /** Bytes that may still be written, all files together; negative: no limit. */
    public static final AtomicLong SPACE = new AtomicLong(-1);

    public static volatile boolean readOnly;

    /** Registers the scheme on a Hadoop configuration. */
    public static Configuration register(Configuration hadoop) {
        hadoop.set("fs." + SCHEME + ".impl", FaultyFileSystem.class.getName());
        return hadoop;
    }

    /** A local path as this scheme's URI. */
    public static String uri(java.nio.file.Path local) {
        return SCHEME + "://" + local.toAbsolutePath();
    }

    public static void reset() {
        SPACE.set(-1);
        readOnly = false;
    }

    @Override
    public URI getUri() {
        return URI.create(SCHEME + ":///");
    }

    @Override
    public String getScheme() {
        return SCHEME;
    }

    @Override
    protected OutputStream createOutputStream(Path f, boolean append) throws IOException {
        checkWritable(f);
        return limited(super.createOutputStream(f, append));
    }

    @Override
    protected OutputStream createOutputStreamWithMode(Path f, boolean append, FsPermission permission)
            throws IOException {
        checkWritable(f);
        return limited(super.createOutputStreamWithMode(f, append, permission));
    }

    @Override
    public boolean mkdirs(Path f) throws IOException {
        return readOnly ? isDirectory(f) : super.mkdirs(f);
    }

    @Override
    public boolean mkdirs(Path f, FsPermission permission) throws IOException {
        return readOnly ? isDirectory(f) : super.mkdirs(f, permission);
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        return !readOnly && super.rename(src, dst);
    }

    @Override
    public boolean delete(Path p, boolean recursive) throws IOException {
        return !readOnly && super.delete(p, recursive);
    }

    private void checkWritable(Path f) throws FileNotFoundException {
        if (readOnly) {
            throw new FileNotFoundException(pathToFile(f) + " (Read-only file system)");
        }
    }

    private static OutputStream limited(OutputStream out) {
        return new FilterOutputStream(out) {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                long left = SPACE.getAndUpdate(s -> s < 0 ? s : Math.max(0, s - len));
                if (left >= 0 && left < len) {
                    out.write(b, off, (int) left);
                    throw fsError(new IOException("No space left on device"));
                }
                out.write(b, off, len);
            }
        };
    }

    /** What Hadoop's local file system throws when a write fails (its constructor is package-private). */
    static FSError fsError(IOException cause) {
        try {
            var c = FSError.class.getDeclaredConstructor(Throwable.class);
            c.setAccessible(true);
            return c.newInstance(cause);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }
}
