import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.IntConsumer;

/**
 * Runs one leak scenario in steps, so that tests can take heap dumps between
 * steps: `java LeakApp SCENARIO DIR`. After the first step it prints
 * `ready 0 PID`; each time the file DIR/next appears it deletes it, runs one
 * more step and prints `ready N`. Waiting on a file keeps the test free of
 * sleeps: it waits on these lines.
 */
public class LeakApp {
    public static void main(String[] args) throws Exception {
        IntConsumer step = switch (args[0]) {
            case "static" -> StaticLeak::step;
            case "threadlocal" -> ThreadLocalLeak::step;
            case "listener" -> ListenerLeak::step;
            case "bounded" -> BoundedCache::step;
            case "big" -> BigHeap::step;
            default -> throw new IllegalArgumentException("unknown scenario " + args[0]);
        };
        Path next = Path.of(args[1], "next");
        int n = 0;
        step.accept(n);
        System.out.println("ready " + n + " " + ProcessHandle.current().pid());
        System.out.flush();
        while (true) {
            if (Files.deleteIfExists(next)) {
                n++;
                step.accept(n);
                System.out.println("ready " + n);
                System.out.flush();
            } else {
                Thread.sleep(20);
            }
        }
    }

    /** Garbage that a full GC removes: the dump must not count it. */
    static void churn() {
        byte[][] junk = new byte[2000][];
        for (int i = 0; i < junk.length; i++) {
            junk[i] = new byte[512];
        }
    }
}
