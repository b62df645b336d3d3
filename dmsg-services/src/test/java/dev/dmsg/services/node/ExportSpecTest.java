package dev.dmsg.services.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The text form of exports (docs/BLK.md "Exports"): {@code dmsg node --export} and a config
 * file's {@code export=}. Every refusal names the spec and what is wrong with it.
 */
class ExportSpecTest {
    @Test
    void aSpecGivesNamePathAndOptionsWithTheirDefaults() {
        Node.Export e = ExportSpec.parse("disk0=/srv/d.img");
        assertThat(e.name()).isEqualTo("disk0");
        assertThat(e.path()).isEqualTo(Path.of("/srv/d.img"));
        assertThat(e.readOnly()).isFalse();
        assertThat(e.blockSize()).isEqualTo(Node.Export.DEFAULT_BLOCK_SIZE);
        assertThat(e.allow()).as("the default: admins only").isEmpty();

        Node.Export o = ExportSpec.parse(" tape = /dev/sdb , ro , blksize=512 ");
        assertThat(o.name()).isEqualTo("tape");
        assertThat(o.path()).isEqualTo(Path.of("/dev/sdb"));
        assertThat(o.readOnly()).isTrue();
        assertThat(o.blockSize()).isEqualTo(512);
        assertThat(ExportSpec.parse("d=/x,ro,rw").readOnly()).as("the last word wins").isFalse();
    }

    // moved from dmsg-cli NodeExportOptionTest: the parsing alone
    @Test
    void anAccessListNamesRolesAndNodesAndTravelsWithItsExport() {
        var e = Node.Export.parse("disk0=/srv/d.img,ro,allow=member+alpha");
        assertThat(e.allow()).containsExactly("member", "alpha");
        assertThat(e.readOnly()).isTrue();
        assertThat(e.toString()).isEqualTo("disk0=/srv/d.img,ro,allow=member+alpha");
        var list = Node.Export.parseList("a=/x,allow=beta,b=/y,ro");
        assertThat(list.get(0).allow()).containsExactly("beta");
        assertThat(list.get(1).allow()).as("the default: admins only").isEmpty();
    }

    @Test
    void aListKeepsEachOptionWithTheExportBeforeIt() {
        List<Node.Export> l = ExportSpec.parseList("a=/x,ro,blksize=512, ,b=/y,allow=member");
        assertThat(l).hasSize(2);
        assertThat(l.get(0)).isEqualTo(new Node.Export("a", Path.of("/x"), true, 512));
        assertThat(l.get(1)).isEqualTo(new Node.Export("b", Path.of("/y"), false, 4096, List.of("member")));
        assertThat(ExportSpec.parseList("")).isEmpty();
    }

    @Test
    void theTextFormLeavesOutDefaultsAndParsesBack() {
        for (String s : List.of("d=/x", "d=/x,ro", "d=/x,blksize=512", "d=/x,ro,blksize=65536,allow=member+alpha")) {
            Node.Export e = ExportSpec.parse(s);
            assertThat(e.toString()).isEqualTo(s);
            assertThat(ExportSpec.parse(e.toString())).isEqualTo(e);
        }
    }

    @Test
    void aMalformedSpecIsRefusedSayingWhy() {
        assertThatThrownBy(() -> ExportSpec.parse("disk0")).isInstanceOf(IllegalArgumentException.class)
            .hasMessage("export 'disk0': expected NAME=PATH[,ro][,blksize=N][,allow=WHO+…][,fence=KEY]");
        assertThatThrownBy(() -> ExportSpec.parse("=/x")).hasMessageStartingWith("export '=/x': expected NAME=PATH");
        assertThatThrownBy(() -> ExportSpec.parse("d=")).hasMessageStartingWith("export 'd=': expected NAME=PATH");
        assertThatThrownBy(() -> ExportSpec.parse("disk0=/x,fast"))
            .hasMessage("export 'disk0=/x,fast': unknown option 'fast' (options: ro, rw, blksize=N, allow=ROLE|LABEL[+…], fence=KEY)");
        assertThatThrownBy(() -> ExportSpec.parse("disk0=/x,blksize=big"))
            .hasMessage("export 'disk0=/x,blksize=big': blksize is not a number: blksize=big");
        assertThatThrownBy(() -> ExportSpec.parse("disk0=/x,blksize=1000"))
            .hasMessage("export disk0: blksize must be a power of two in 512..65536, not 1000");
        assertThatThrownBy(() -> ExportSpec.parse("disk0=/x,blksize=131072"))
            .hasMessageContaining("not 131072");
        assertThatThrownBy(() -> ExportSpec.parse("bad/name=/x"))
            .hasMessage("export name 'bad/name': 1..64 of A-Z a-z 0-9 . _ -");
        assertThatThrownBy(() -> ExportSpec.parse("disk0=/x,allow=alpha+bad/name"))
            .hasMessageContaining("allow: 'bad/name' is neither a role nor a node label");
        // in a list, a word that is no option starts the next export
        assertThatThrownBy(() -> ExportSpec.parseList("a=/x,b=/y,turbo"))
            .hasMessage("export 'turbo': expected NAME=PATH[,ro][,blksize=N][,allow=WHO+…][,fence=KEY]");
    }

    /** docs/CAC.md §6: fence=KEY binds the export's writes to a lock; the key must be a lock's. */
    @Test
    void aFencedExportNamesItsLockKey() {
        Node.Export e = ExportSpec.parse("disk0=/x,fence=/vol/disk0,allow=member");
        assertThat(e.fence()).isEqualTo("/vol/disk0");
        assertThat(ExportSpec.parse(e.toString())).isEqualTo(e);
        assertThat(ExportSpec.parse("disk0=/x").fence()).isNull();
        assertThatThrownBy(() -> ExportSpec.parse("disk0=/x,fence=vol")).isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("export disk0: fence=vol: lock key \"vol\" is not an absolute path");
        assertThat(ExportSpec.parseList("a=/x,fence=/l/a,b=/y")).extracting(Node.Export::fence).containsExactly("/l/a", null);
    }
}
