package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code --help} works on every command and subcommand a user sees: prints its usage, exit 0.
 * Hidden ones are the internal processes of the demo and the benchmarks, started by us.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HelpOptionTest extends CliCapture {
    static void commands(CommandLine c, List<String> path, List<List<String>> out) {
        out.add(path);
        c.getSubcommands().forEach((name, sub) -> {
            if (!name.equals("help") && sub.getCommandName().equals(name) // aliases once
                && !sub.getCommandSpec().usageMessage().hidden()) {
                List<String> p = new ArrayList<>(path);
                p.add(name);
                commands(sub, p, out);
            }
        });
    }

    @Test
    void everyCommandTakesHelp() {
        List<List<String>> all = new ArrayList<>();
        CommandLine cl = Main.commandLine(Map.of());
        commands(cl, List.of(), all);
        assertThat(all).contains(List.of("frame"), List.of("frame", "decode"), List.of("blk", "cp"));
        List<String> failed = new ArrayList<>();
        for (List<String> cmd : all) {
            List<String> args = new ArrayList<>(cmd);
            args.add("--help");
            int status = run(cl, args.toArray(String[]::new));
            if (status != 0 || !out().startsWith("Usage: dmsg") || !err().isEmpty()) {
                failed.add(String.join(" ", args) + " -> " + status + " " + err().lines().findFirst().orElse(""));
            }
        }
        assertThat(failed).isEmpty();
    }
}
