package org.sptspark.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetReaderTest {

    @TempDir
    Path root;

    static final TaskSpec TOY = new TaskSpec("toy", 3, "natural", TaskSpec.Layout.VTAB, null, null);

    private final DatasetReader reader = new DatasetReader(new Configuration());
    private final DatasetChecker checker = new DatasetChecker(new Configuration());

    /** A VTAB-layout task with 6 PNGs: train800 4, val200 2, their union, and a test split of 2. */
    @BeforeEach
    void writeToyTask() throws IOException {
        Path task = Files.createDirectories(root.resolve("toy/images"));
        for (int i = 0; i < 6; i++) {
            var image = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
            image.setRGB(i, i, 0xff0000 >> i);
            ImageIO.write(image, "png", task.resolve(String.format("%06d.png", i)).toFile());
        }
        list("train800", "images/000000.png 0", "images/000001.png 1", "images/000002.png 2", "images/000003.png 0");
        list("val200", "images/000004.png 1", "images/000005.png 2");
        list("train800val200", "images/000000.png 0", "images/000001.png 1", "images/000002.png 2",
                "images/000003.png 0", "images/000004.png 1", "images/000005.png 2");
        list("test", "images/000004.png 1", "images/000005.png 2");
    }

    private void list(String split, String... lines) throws IOException {
        Files.writeString(root.resolve("toy/" + split + ".txt"), String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
    }

    @Test
    void vtabListsAreReadInFileOrderWithFullPaths() {
        List<Sample> train = reader.read(root.toUri().toString(), TOY, Split.TRAIN);
        assertEquals(4, train.size());
        assertEquals(3, train.get(3).row());
        assertEquals(0, train.get(3).label());
        assertTrue(train.get(2).path().endsWith("/toy/images/000002.png"), train.get(2).path());
        assertTrue(train.get(1).origin().endsWith("train800.txt:2"), train.get(1).origin());
        var report = checker.check(root.toString(), TOY, true, false);
        assertArrayEquals(new long[] {2, 2, 2}, report.splits().get(Split.TRAINVAL.ordinal()).perClass());
        assertTrue(report.problems().isEmpty());
    }

    @Test
    void aLabelOutsideTheClassesNamesFileAndLine() throws IOException {
        list("train800", "images/000000.png 0", "images/000001.png 7");
        var e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), TOY, Split.TRAIN));
        assertTrue(e.getMessage().matches("line 2 of .*/toy/train800\\.txt: label 7 outside 0\\.\\.2 for task 'toy' \\(3 classes\\)"),
                e.getMessage());
    }

    @Test
    void aCorruptImageFailsTheCheckNamingFileAndLineAndLenientModeReportsIt() throws IOException {
        Files.writeString(root.resolve("toy/images/000002.png"), "this is not a png");
        var e = assertThrows(IllegalArgumentException.class, () -> checker.check(root.toString(), TOY, true, false));
        assertTrue(e.getMessage().contains("000002.png (train800.txt line 3)")
                && e.getMessage().contains("undecodable"), e.getMessage());
        var report = checker.check(root.toString(), TOY, true, true);
        // listed in train800 and train800val200
        assertEquals(2, report.problems().size());
        assertTrue(report.problems().get(0).path().endsWith("000002.png"));
    }

    @Test
    void aMissingImageIsNamed() throws IOException {
        Files.delete(root.resolve("toy/images/000005.png"));
        var e = assertThrows(IllegalArgumentException.class, () -> checker.check(root.toString(), TOY, false, false));
        assertTrue(e.getMessage().contains("000005.png") && e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void malformedLinesDuplicatesAndEmptySplitsAreErrors() throws IOException {
        list("train800", "images/000000.png 0", "images/000001.png one");
        var e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), TOY, Split.TRAIN));
        assertTrue(e.getMessage().contains("line 2") && e.getMessage().contains("is not an integer"), e.getMessage());
        list("train800", "images/000000.png0");
        e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), TOY, Split.TRAIN));
        assertTrue(e.getMessage().contains("expected 'relative/path label'"), e.getMessage());
        list("train800", "images/000000.png 0", "images/000001.png 1", "images/000000.png 0");
        e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), TOY, Split.TRAIN));
        assertTrue(e.getMessage().contains("line 3") && e.getMessage().contains("duplicate entry")
                && e.getMessage().contains("first listed on line 1"), e.getMessage());
        list("train800");
        e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), TOY, Split.TRAIN));
        assertTrue(e.getMessage().contains("is empty"), e.getMessage());
        Files.delete(root.resolve("toy/val200.txt"));
        e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), TOY, Split.VAL));
        assertTrue(e.getMessage().contains("val200.txt") && e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void unknownTasksListTheSuitesTasks() {
        Suite vtab = Suite.load("vtab-1k");
        assertEquals(19, vtab.tasks().size());
        assertEquals(List.of("natural", "specialized", "structured"), List.copyOf(vtab.groups().keySet()));
        assertEquals(397, vtab.task("sun397").classes());
        var e = assertThrows(IllegalArgumentException.class, () -> vtab.task("imagenet"));
        assertTrue(e.getMessage().contains("unknown task 'imagenet'") && e.getMessage().contains("smallnorb_ele"));
        assertEquals(5, Suite.load("fgvc").tasks().size());
        assertThrows(IllegalArgumentException.class, () -> Suite.load("no-such-suite"));
    }

    @Test
    void fgvcIdsBecomeContiguousAcrossSplitsAndTrainvalIsTrainThenVal() throws IOException {
        Path task = Files.createDirectories(root.resolve("Birds/images"));
        Files.writeString(task.getParent().resolve("train.json"), "{\"a/1.jpg\": 10, \"b/2.jpg\": 30}");
        Files.writeString(task.getParent().resolve("val.json"), "{\"c/3.jpg\": 20}");
        Files.writeString(task.getParent().resolve("test.json"), "{\"d/4.jpg\": 30, \"e/5.jpg\": 10}");
        var birds = new TaskSpec("birds", 3, "fgvc", TaskSpec.Layout.FGVC, "Birds", "images");
        List<Sample> trainval = reader.read(root.toString(), birds, Split.TRAINVAL);
        assertEquals(List.of(0, 2, 1), trainval.stream().map(Sample::label).toList());
        assertTrue(trainval.get(2).path().endsWith("/Birds/images/c/3.jpg"), trainval.get(2).path());
        assertEquals(List.of(2, 0), reader.read(root.toString(), birds, Split.TEST).stream().map(Sample::label).toList());
        var wrong = new TaskSpec("birds", 4, "fgvc", TaskSpec.Layout.FGVC, "Birds", "images");
        var e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), wrong, Split.TRAIN));
        assertTrue(e.getMessage().contains("3 distinct class ids, but the task has 4 classes"), e.getMessage());
    }

    @Test
    void imageFoldersGiveClassesInSortedNameOrder() throws IOException {
        for (String split : new String[] {"train", "val", "test"}) {
            for (String c : new String[] {"zebra", "ant"}) {
                Path dir = Files.createDirectories(root.resolve("mine/" + split + "/" + c));
                Files.writeString(dir.resolve(c + "-1.png"), "x");
            }
        }
        var mine = new TaskSpec("mine", 2, "custom", TaskSpec.Layout.IMAGE_FOLDER, null, null);
        List<Sample> train = reader.read(root.toString(), mine, Split.TRAIN);
        assertEquals(List.of(0, 1), train.stream().map(Sample::label).toList());
        assertTrue(train.get(0).path().endsWith("/mine/train/ant/ant-1.png"));
        assertEquals(4, reader.read(root.toString(), mine, Split.TRAINVAL).size());
    }

    /** The message for an entry that leaves the toy task's folder. */
    private String outside(String list, int line, String entry) {
        return list + ".txt line " + line + ": '" + entry + "' resolves outside the task folder "
                + "file:" + root.resolve("toy") + "; pass --allow-outside-paths to allow it";
    }

    @Test
    void entriesThatLeaveTheTaskFolderAreRefusedNamingFileAndLine() throws IOException {
        Files.writeString(root.resolve("outside.png"), "x");
        for (String entry : new String[] {"../outside.png", "../../outside.png", "images/../../outside.png",
            "/etc/passwd", root.resolve("outside.png").toString(), "file:/etc/passwd", "file://otherhost" + root + "/toy/a.png",
            "s3a://lake/vtab/toy/images/000000.png", "hdfs://namenode/data/x.png", "//otherhost/toy/a.png",
            "../toy2/images/x.png", "../toy.png"}) {
            list("train800", "images/000000.png 0", entry + " 1");
            var e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), TOY, Split.TRAIN), entry);
            assertEquals(outside("train800", 2, entry), e.getMessage());
            // every command reads its lists through the reader, and the checker too, before opening any image
            e = assertThrows(IllegalArgumentException.class, () -> checker.check(root.toString(), TOY, false, true), entry);
            assertEquals(outside("train800", 2, entry), e.getMessage());
        }
    }

    @Test
    void nestedRelativePathsThatStayInsideAreRead() throws IOException {
        Path deep = Files.createDirectories(root.resolve("toy/images/a/b"));
        Files.copy(root.resolve("toy/images/000001.png"), deep.resolve("x.png"));
        list("train800", "images/a/b/x.png 0", "./images/000001.png 1", "images/a/../000002.png 2",
                "images/a/b/../../../images/000003.png 0", root.resolve("toy/images/000004.png") + " 1",
                new org.apache.hadoop.fs.Path(root.resolve("toy/images/000005.png").toUri()) + " 2");
        List<Sample> train = reader.read(root.toString(), TOY, Split.TRAIN);
        assertEquals(6, train.size());
        assertTrue(train.get(0).path().endsWith("/toy/images/a/b/x.png"), train.get(0).path());
        assertTrue(train.get(2).path().endsWith("/toy/images/000002.png"), train.get(2).path());
        assertTrue(train.get(3).path().endsWith("/toy/images/000003.png"), train.get(3).path());
        assertTrue(checker.check(root.toString(), TOY, true, false).problems().isEmpty());
    }

    @Test
    void otherBucketsHostsAndSchemesAreOutsideAnS3TaskFolder() {
        var task = new org.apache.hadoop.fs.Path("s3a://lake/vtab/dtd");
        for (String entry : new String[] {"s3a://other/vtab/dtd/images/x.jpg", "//other/vtab/dtd/images/x.jpg",
            "s3://lake/vtab/dtd/images/x.jpg", "file:/vtab/dtd/images/x.jpg", "/vtab/dtd2/x.jpg", "../dtd2/x.jpg",
            "/etc/passwd", "../../../../x.jpg"}) {
            assertTrue(!DatasetReader.inside(task, new org.apache.hadoop.fs.Path(task, entry)), entry);
        }
        for (String entry : new String[] {"images/x.jpg", "s3a://lake/vtab/dtd/images/x.jpg", "/vtab/dtd/images/x.jpg",
            "images/../x.jpg", "a/b/c/d.jpg"}) {
            assertTrue(DatasetReader.inside(task, new org.apache.hadoop.fs.Path(task, entry)), entry);
        }
    }

    @Test
    void theAllowOptionLetsOutsidePathsThrough() throws IOException {
        Path outsideImage = root.resolve("elsewhere/outside.png");
        Files.createDirectories(outsideImage.getParent());
        Files.copy(root.resolve("toy/images/000001.png"), outsideImage);
        list("train800", "images/000000.png 0", "../elsewhere/outside.png 1", outsideImage + " 2");
        var allowing = new Configuration();
        allowing.setBoolean(DataLimits.ALLOW_OUTSIDE_PATHS, true);
        List<Sample> train = new DatasetReader(allowing).read(root.toString(), TOY, Split.TRAIN);
        assertEquals(3, train.size());
        assertTrue(train.get(1).path().endsWith("/elsewhere/outside.png"), train.get(1).path());
        assertTrue(new DatasetChecker(allowing).check(root.toString(), TOY, true, false).problems().isEmpty());
        assertTrue(new DatasetReader(new Configuration(), true).read(root.toString(), TOY, Split.TRAIN).size() == 3);
    }

    @Test
    void fgvcEntriesMustStayInsideTheImageFolder() throws IOException {
        Path task = Files.createDirectories(root.resolve("Birds/images"));
        Files.writeString(task.getParent().resolve("train.json"), "{\"a/1.jpg\": 10, \"../../secret.jpg\": 30}");
        Files.writeString(task.getParent().resolve("val.json"), "{\"c/3.jpg\": 20}");
        Files.writeString(task.getParent().resolve("test.json"), "{\"d/4.jpg\": 30}");
        var birds = new TaskSpec("birds", 3, "fgvc", TaskSpec.Layout.FGVC, "Birds", "images");
        var e = assertThrows(IllegalArgumentException.class, () -> reader.read(root.toString(), birds, Split.TRAIN));
        assertEquals("train.json: '../../secret.jpg' resolves outside the image folder "
                + "file:" + task + "; pass --allow-outside-paths to allow it", e.getMessage());
        assertEquals(1, reader.read(root.toString(), birds, Split.VAL).size());
    }
}
