package queryapi

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// actorWithMarkup is an actor name a client could send (X-Actor takes any printable ASCII): the page
// must show it as text.
const actorWithMarkup = `<script>alert("x")</script>`

func TestOrderTimeline(t *testing.T) {
	e := newEnv(t)
	id := uuid.New()
	recorded := e.sampleOrder(id, actorWithMarkup)
	path := "/orders/" + id.String() + "/timeline"

	t.Run("the whole history", func(t *testing.T) {
		r := e.get(path)
		if r.status != 200 || r.header.Get("Content-Type") != "text/html; charset=UTF-8" {
			t.Fatalf("%d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		page := string(r.body)
		if strings.Contains(page, actorWithMarkup) || !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Error("the actor is not escaped")
		}
		types := regexp.MustCompile(`data-type="([A-Za-z]+)"`).FindAllStringSubmatch(page, -1)
		if len(types) != len(recorded) {
			t.Fatalf("%d events on the page, want %d", len(types), len(recorded))
		}
		for i, m := range types {
			if m[1] != recorded[i].Type {
				t.Errorf("event %d is %s, want %s", i+1, m[1], recorded[i].Type)
			}
		}
		for _, want := range []string{
			`id="v1"`, `id="v7"`, `href="#v2"`, `href="#v6"`,
			`href="/orders/` + id.String() + `?as_of_version=3"`,
			`<th scope="row">quantity</th><td>2</td>`, // the v1 ItemAdded, upcast
			`<th scope="row">tracking_number</th><td>T-1</td>`,
			`data-status="shipped"`, "DoOrderPaid", "corr-OrderPlaced",
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if strings.Contains(page, `rel="next"`) || strings.Contains(page, `rel="prev"`) {
			t.Error("one page links to others")
		}
	})

	t.Run("pages", func(t *testing.T) {
		page := string(e.get(path + "?from_version=4&limit=3").body)
		for _, want := range []string{
			`id="v4"`, `id="v6"`, `data-status="paid"`, // the state as of the page's last event
			`href="` + path + `?from_version=1&amp;limit=3" rel="prev"`,
			`href="` + path + `?from_version=7&amp;limit=3" rel="next"`,
			`href="` + path + `?from_version=1&amp;limit=3#v3"`, // v4's previous, on the page before
			`href="` + path + `?from_version=7&amp;limit=3#v7"`, // v6's next, on the page after
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if strings.Contains(page, `id="v3"`) || strings.Contains(page, `id="v7"`) {
			t.Error("the page shows events of other pages")
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		r := e.get("/orders/" + uuid.NewString() + "/timeline")
		if r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "Order not found") {
			t.Errorf("%d %s: %s", r.status, r.header.Get("Content-Type"), r.body)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		for _, p := range []string{"/orders/42/timeline", path + "?limit=0", path + "?from_version=x", path + "?as_of=1"} {
			r := e.get(p)
			if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "<code>") {
				t.Errorf("%s: %d %s: %s", p, r.status, r.header.Get("Content-Type"), r.body)
			}
		}
	})
}

// TestTimelineInChromium renders the timeline in headless Chromium, the way a person sees it: the DOM
// after parsing must hold every event, and the screenshot must be a page, not a blank canvas.
func TestTimelineInChromium(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		t.Skip("no Chromium (Debian packages chromium, chromium-driver): the timeline's rendering is not checked")
	}
	e := newEnv(t)
	id := uuid.New()
	recorded := e.sampleOrder(id, actorWithMarkup)
	srv := httptest.NewServer(e.api)
	t.Cleanup(srv.Close)
	url := srv.URL + "/orders/" + id.String() + "/timeline"

	dom := runChromium(t, browser, "--dump-dom", url)
	if n := strings.Count(dom, `class="event"`); n != len(recorded) {
		t.Errorf("the DOM has %d events, want %d", n, len(recorded))
	}
	for _, want := range []string{"OrderCreated", "ShippingAddressSet", "OrderShipped", "&lt;script&gt;alert"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, actorWithMarkup) {
		t.Error("the actor's markup became part of the page")
	}

	shot := filepath.Join(t.TempDir(), "timeline.png")
	runChromium(t, browser, "--screenshot="+shot, "--window-size=1000,1400", url)
	f, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(f))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 1400 {
		t.Errorf("screenshot is %v, want 1000x1400", b)
	}
	// A rendered page has the background, text (dark pixels) and the accents of the event markers
	// (the timeline's blue). A blank or failed render has one colour, or no blue.
	bg, dark, blue := pixelCounts(img)
	total := img.Bounds().Dx() * img.Bounds().Dy()
	if bg < total/3 || dark < 2000 || blue < 100 {
		t.Errorf("the screenshot does not look like the timeline: %d background, %d dark, %d blue pixels of %d", bg, dark, blue, total)
	}
}

// pixelCounts counts the page's background (#f5f6f8 and white), dark text pixels and pixels of the
// timeline's blue markers (#2f6fdb).
func pixelCounts(img image.Image) (bg, dark, blue int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			switch {
			case r >= 0xf0 && g >= 0xf0 && bl >= 0xf0:
				bg++
			case r < 0x60 && g < 0x60 && bl < 0x70:
				dark++
			case bl > 0xc0 && r < 0x60 && g > 0x50 && g < 0x90:
				blue++
			}
		}
	}
	return bg, dark, blue
}

// findChromium returns the path of a Chromium binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium runs headless Chromium once, in a profile of its own, and returns its stdout. The
// flags turn off what a fresh profile would otherwise start in the background (component updates,
// sync, translation): without them each run takes seconds longer.
func runChromium(t *testing.T, browser string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-features=Translate,MediaRouter,OptimizationHints",
		"--user-data-dir=" + t.TempDir(),
	}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}
