package org.sptspark.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/** Files out of a package: an npm tarball ({@code .tgz}) or an unpacked folder. */
final class PackageFiles {

    private PackageFiles() {}

    /**
     * Entries whose path inside the package (npm's leading {@code package/} removed) the filter
     * accepts, by that path.
     */
    static Map<String, byte[]> read(Path source, Predicate<String> wanted) throws IOException {
        var out = new LinkedHashMap<String, byte[]>();
        if (Files.isDirectory(source)) {
            try (var files = Files.walk(source)) {
                for (Path p : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                    String name = source.relativize(p).toString().replace('\\', '/');
                    if (wanted.test(name)) {
                        out.put(name, Files.readAllBytes(p));
                    }
                }
            }
            return out;
        }
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(source));
                var tar = new TarArchiveInputStream(new GzipCompressorInputStream(raw))) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                String name = entry.getName().replaceFirst("^package/", "");
                if (entry.isFile() && wanted.test(name)) {
                    out.put(name, tar.readAllBytes());
                }
            }
        }
        return out;
    }
}
