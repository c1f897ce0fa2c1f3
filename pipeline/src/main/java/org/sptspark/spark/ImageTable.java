package org.sptspark.spark;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.SerializableConfiguration;
import org.sptspark.data.DatasetReader;
import org.sptspark.data.Sample;
import org.sptspark.data.Split;
import org.sptspark.data.TaskSpec;

/**
 * A task's split as a Spark table of {@code (row, path, label, origin, bytes)}: the listing is
 * read on the driver (it is small), the image bytes on the executors, straight from the file
 * system the paths name ({@code file://}, {@code s3a://}, {@code hdfs://}). Rows keep the
 * listing's order numbers, so whatever the partitioning, batch i is rows {@code i*B .. (i+1)*B-1}.
 */
public final class ImageTable {

    public static final StructType LISTING = new StructType()
            .add("row", DataTypes.LongType, false)
            .add("path", DataTypes.StringType, false)
            .add("label", DataTypes.IntegerType, false)
            .add("origin", DataTypes.StringType, false);

    public static final StructType SCHEMA = LISTING.add("bytes", DataTypes.BinaryType, false);

    private ImageTable() {}

    /** The split's listing, validated on the driver. */
    public static Dataset<Row> listing(SparkSession spark, String root, TaskSpec task, Split split, int partitions) {
        List<Sample> samples = new DatasetReader(spark.sparkContext().hadoopConfiguration()).read(root, task, split);
        return frame(spark, samples).repartition(partitions).sortWithinPartitions("row");
    }

    /** Samples already read on the driver as a table with the {@link #LISTING} columns, unpartitioned. */
    static Dataset<Row> frame(SparkSession spark, List<Sample> samples) {
        var rows = new ArrayList<Row>(samples.size());
        for (Sample s : samples) {
            rows.add(RowFactory.create(s.row(), s.path(), s.label(), s.origin()));
        }
        return spark.createDataFrame(rows, LISTING);
    }

    /** The session's Hadoop configuration, shipped once to every executor. */
    static Broadcast<SerializableConfiguration> hadoopConfiguration(SparkSession spark) {
        return spark.sparkContext().broadcast(new SerializableConfiguration(spark.sparkContext().hadoopConfiguration()),
                scala.reflect.ClassTag$.MODULE$.apply(SerializableConfiguration.class));
    }

    /** The split with every image's bytes, read on the executors. A missing image fails the task, naming it. */
    public static Dataset<Row> read(SparkSession spark, String root, TaskSpec task, Split split, int partitions) {
        return withBytes(spark, listing(spark, root, task, split, partitions));
    }

    /**
     * Adds the {@code bytes} column to rows of a listing (any rows that start with the
     * {@link #LISTING} columns; further columns are dropped), read on the executors.
     */
    public static Dataset<Row> withBytes(SparkSession spark, Dataset<Row> listing) {
        Broadcast<SerializableConfiguration> conf = hadoopConfiguration(spark);
        return listing.mapPartitions((MapPartitionsFunction<Row, Row>) rows -> withBytes(rows, conf.value().value()),
                Encoders.row(SCHEMA));
    }

    private static Iterator<Row> withBytes(Iterator<Row> rows, org.apache.hadoop.conf.Configuration hadoop) {
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public Row next() {
                Row r = rows.next();
                String path = r.getString(1);
                try {
                    Path p = new Path(path);
                    FileSystem fs = p.getFileSystem(hadoop);
                    byte[] bytes;
                    try (InputStream in = fs.open(p)) {
                        bytes = in.readAllBytes();
                    }
                    return RowFactory.create(r.getLong(0), path, r.getInt(2), r.getString(3), bytes);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read image " + Sample.describe(path, r.getString(3)), e);
                }
            }
        };
    }
}
