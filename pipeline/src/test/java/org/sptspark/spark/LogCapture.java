package org.sptspark.spark;

import java.io.StringWriter;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.WriterAppender;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.layout.PatternLayout;

/** Everything logged in this JVM, ours and Spark's, from INFO up, with stack traces, while open. */
final class LogCapture implements AutoCloseable {

    private static final String NAME = "test-capture";

    private final StringWriter text = new StringWriter();
    private final LoggerContext context = (LoggerContext) LogManager.getContext(false);
    private final LoggerConfig root = context.getConfiguration().getRootLogger();
    private final Level level = root.getLevel();
    private final WriterAppender appender;

    private LogCapture() {
        appender = WriterAppender.createAppender(PatternLayout.newBuilder().withPattern("%p %c %m%n%ex").build(), null, text,
                NAME, false, true);
        appender.start();
        root.addAppender(appender, Level.ALL, null);
        root.setLevel(Level.INFO);
        context.updateLoggers();
    }

    static LogCapture start() {
        return new LogCapture();
    }

    /** What was logged so far. */
    String text() {
        synchronized (text) {
            return text.toString();
        }
    }

    @Override
    public void close() {
        root.removeAppender(NAME);
        root.setLevel(level);
        context.updateLoggers();
        appender.stop();
    }
}
