package org.sptspark.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * A parent's help lists each subcommand with one line, the first of its header or else of its
 * description, and drops the rest: that line must be a whole sentence that fits.
 */
class CommandDescriptionsTest {

    static final int MAX_SUMMARY = 100;

    @Test
    void everyCommandOfSptStartsItsDescriptionWithAOneLineSentence() {
        var problems = new ArrayList<String>();
        int checked = check(Spt.tree(), problems);
        assertTrue(checked > 20, "walked only " + checked + " commands");
        assertEquals(List.of(), problems);
    }

    @Test
    void everyCommandOfSptNodeStartsItsDescriptionWithAOneLineSentence() {
        var problems = new ArrayList<String>();
        check(new CommandLine(new SptNode()), problems);
        assertEquals(List.of(), problems);
    }

    @Test
    void theListOfCommandsShowsTheFirstLineOfEachDescriptionAndNotTheRest() {
        var cli = Spt.tree().setUsageHelpWidth(40 + MAX_SUMMARY);
        String usage = cli.getUsageMessage(CommandLine.Help.Ansi.OFF);
        String[] sweep = cli.getSubcommands().get("sweep").getCommandSpec().usageMessage().description();
        assertTrue(usage.contains(" " + sweep[0] + System.lineSeparator()), usage);
        assertTrue(!usage.contains(sweep[1]), usage);
    }

    /** Checks {@code cli} and its subcommands, recursively; returns how many commands it checked. */
    private static int check(CommandLine cli, List<String> problems) {
        var usage = cli.getCommandSpec().usageMessage();
        String name = cli.getCommandSpec().qualifiedName();
        // picocli's own help command has a one-line header, which the list shows instead of its description
        boolean headed = usage.header().length > 0;
        String[] lines = headed ? usage.header() : usage.description();
        if (lines.length == 0 || lines[0].isBlank()) {
            problems.add(name + ": no description");
        } else {
            String summary = lines[0];
            if (summary.length() > MAX_SUMMARY) {
                problems.add(name + ": first line has " + summary.length() + " characters (at most " + MAX_SUMMARY
                        + "): " + summary);
            }
            if (!summary.endsWith(".") || !Character.isUpperCase(summary.charAt(0)) || summary.contains("%n")) {
                problems.add(name + ": first line is not one whole sentence: " + summary);
            }
        }
        int checked = 1;
        for (CommandLine sub : cli.getSubcommands().values()) {
            checked += check(sub, problems);
        }
        return checked;
    }
}
