package org.sptspark.jobs;

import picocli.CommandLine.IVersionProvider;

/** Versions of this project and of the libraries that decide its numbers. */
final class Versions implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String ours = Spt.class.getPackage().getImplementationVersion();
        return new String[] {
            "spt " + (ours == null ? "(development build)" : ours),
            "DJL " + ai.djl.engine.Engine.getDjlVersion(),
            "Java " + System.getProperty("java.version"),
        };
    }
}
