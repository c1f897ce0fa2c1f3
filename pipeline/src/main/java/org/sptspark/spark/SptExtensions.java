package org.sptspark.spark;

import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import scala.Tuple3;
import scala.collection.Seq;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Spark SQL extensions that give every session the function {@code spt_classify(task, content)}
 * ({@link SptFunctions}), for SQL users with no code of their own:
 * {@code --conf spark.sql.extensions=org.sptspark.spark.SptExtensions} with the jar on the class
 * path, and the artifacts named by the session's {@code spark.spt.*} settings, read when a query
 * that calls the function is analysed.
 */
public final class SptExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {

    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectFunction(new Tuple3<>(new FunctionIdentifier(SptFunctions.NAME),
                new ExpressionInfo(SptFunctions.class.getName(), SptFunctions.NAME), new Builder()));
        return BoxedUnit.UNIT;
    }

    /** Builds the call: the function configured from the analysing session's settings, on the call's arguments. */
    private static final class Builder extends AbstractFunction1<Seq<Expression>, Expression> {
        @Override
        public Expression apply(Seq<Expression> arguments) {
            List<Expression> args = scala.collection.JavaConverters.seqAsJavaList(arguments);
            if (args.size() != 2) {
                throw new IllegalArgumentException(SptFunctions.NAME + " takes two arguments (task, content), not "
                        + args.size());
            }
            SparkSession spark = SparkSession.active();
            return SptFunctions.fromConf(spark).apply(new Column(args.get(0)), new Column(args.get(1))).expr();
        }
    }
}
