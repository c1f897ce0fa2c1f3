package org.sptspark.tuning;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sptspark.model.Precision;

/** Recipe's builder: it starts from the VTAB-1k recipe, sets fields by name and checks them as the constructor does. */
class RecipeTest {

    @Test
    void theBuilderStartsFromTheVtabRecipe() {
        assertEquals(Recipe.vtab(), Recipe.builder().build());
    }

    @Test
    void eachSetterSetsTheFieldOfItsName() {
        var r = Recipe.builder().epochs(7).batchSize(16).lr(2e-3).weightDecay(5e-5).warmupEpochs(3).warmupLr(1e-7)
                .minLr(1e-6).dropPath(0.2).evalEvery(2).seed(9).precision(Precision.BF16).build();
        assertEquals(new Recipe(7, 16, 2e-3, 5e-5, 3, 1e-7, 1e-6, 0.2, 2, 9, Precision.BF16), r);
    }

    @Test
    void toBuilderKeepsWhatIsNotSet() {
        var r = new Recipe(3, 32, 1e-2, 0, 1, 1e-6, 1e-5, 0, 0, 4);
        assertEquals(new Recipe(3, 32, 1e-2, 0, 1, 1e-6, 1e-5, 0, 0, 5), r.toBuilder().seed(5).build());
        assertEquals(r.withSeed(5), r.toBuilder().seed(5).build());
        assertEquals(r.withEpochs(8, 2), r.toBuilder().epochs(8).warmupEpochs(2).build());
    }

    @Test
    void buildChecksTheFieldsTogether() {
        // the VTAB recipe's 10 warm-up epochs do not fit in 5 epochs
        var e = assertThrows(IllegalArgumentException.class, () -> Recipe.builder().epochs(5).build());
        assertTrue(e.getMessage().contains("warm-up epochs must be in 0..5, not 10"), e.getMessage());
        assertEquals(5, Recipe.builder().warmupEpochs(0).epochs(5).build().epochs());
    }
}
