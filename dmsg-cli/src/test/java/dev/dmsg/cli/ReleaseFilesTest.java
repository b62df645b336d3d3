package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The release archive's {@code conf/dmsg.properties} (src/dist) names every option of
 * {@code dmsg node}, nothing else, each at its default: it cannot drift from {@code node --help}.
 */
class ReleaseFilesTest {
    private static final Path CONF = Path.of("src/dist/conf/dmsg.properties");
    /** {@code #key=value}: an option line, commented out (description lines start with "# "). */
    private static final Pattern OPTION_LINE = Pattern.compile("^#?([a-z][a-z0-9-]*(?:\\.[A-Z]+)?)=(.*)$");
    /** Options that are not settings: what the file is, and picocli's own. */
    private static final Set<String> NOT_SETTINGS = Set.of("config", "help", "version");

    @Test
    void configTemplateHasEveryNodeOptionAtItsDefault() throws Exception {
        Map<String, String> inFile = new LinkedHashMap<>();
        for (String line : Files.readAllLines(CONF)) {
            Matcher m = OPTION_LINE.matcher(line);
            if (m.matches()) {
                assertThat(inFile.put(m.group(1), m.group(2))).as("key %s twice", m.group(1)).isNull();
            }
        }
        CommandLine node = new CommandLine(new Main()).getSubcommands().get("node");
        Set<String> options = new TreeSet<>();
        for (OptionSpec o : node.getCommandSpec().options()) {
            String key = o.longestName().substring(2);
            if (o.hidden() || NOT_SETTINGS.contains(key)) {
                continue;
            }
            options.add(key.equals("quorum") ? "quorum.NAME" : key); // quorum.NAME=… in a file
            String v = inFile.get(key);
            String def = o.defaultValue();
            if (v != null && !v.isEmpty() && def != null && !def.startsWith("${env:")) {
                assertThat(v.toUpperCase(Locale.ROOT)).as("default of %s", key).isEqualTo(def.toUpperCase(Locale.ROOT));
            }
            if (def != null && def.startsWith("${env:")) { // DMSG_LOG_LEVEL and co: the fallback after ':-'
                assertThat(v.toUpperCase(Locale.ROOT)).as("default of %s", key)
                    .isEqualTo(def.substring(def.indexOf(":-") + 2, def.length() - 1).toUpperCase(Locale.ROOT));
            }
        }
        assertThat(new TreeSet<>(inFile.keySet())).as("keys of " + CONF).isEqualTo(options);
    }

    @Test
    void everyLineOfTheTemplateIsACommentSoTheShippedFileChangesNothing() throws Exception {
        assertThat(Files.readAllLines(CONF)).allSatisfy(l -> assertThat(l.isEmpty() || l.startsWith("#")).as(l).isTrue());
    }
}
