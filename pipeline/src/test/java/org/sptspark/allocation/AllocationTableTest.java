package org.sptspark.allocation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.GenericRowWithSchema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/** A row's stage, from its column or, in a table written before the column, from its tensor's name. */
class AllocationTableTest {

    static final StructType OLD = new StructType().add("tensor", DataTypes.StringType).add("block", DataTypes.IntegerType);
    static final StructType NEW = OLD.add("stage", DataTypes.IntegerType);

    static Row old(String tensor, int block) {
        return new GenericRowWithSchema(new Object[] {tensor, block}, OLD);
    }

    @Test
    void anOldRowTakesTheStageItsNameGives() {
        // Swin-B's layers.2.blocks.5 is block 9; ConvNeXt's downsampling of stage 3 is block 33
        assertEquals(2, AllocationTable.stageOf(old("layers.2.blocks.5.attn.q.weight", 9)));
        assertEquals(3, AllocationTable.stageOf(old("stages.3.downsample.1.weight", 33)));
        assertEquals(0, AllocationTable.stageOf(old("blocks.11.mlp.fc2.weight", 11)));
        assertEquals(-1, AllocationTable.stageOf(old("norm.weight", -1)));
        assertEquals(-1, AllocationTable.stageOf(old("head.norm.bias", -1)));
    }

    @Test
    void aNewRowTakesItsColumn() {
        assertEquals(1, AllocationTable.stageOf(new GenericRowWithSchema(new Object[] {"layers.2.x", 9, 1}, NEW)));
    }
}
