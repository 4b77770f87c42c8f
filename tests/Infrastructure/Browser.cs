namespace Perf.Tests.Infrastructure;

/// <summary>
/// A report page opened in headless Chromium, as a tester opens it: its script runs to its end without an error, each
/// chart has drawn paths, and a screenshot of it is not blank. Skips where no Chromium is installed (CI installs it).
/// </summary>
internal static class Browser
{
    /// <summary>Opens <paramref name="page"/> and checks it draws <paramref name="charts"/> charts, each with a path.</summary>
    internal static void AssertDrawn(string page, int charts)
    {
        string? chromium = Find("chromium") ?? Find("chromium-browser") ?? Find("google-chrome");
        Assert.SkipWhen(chromium is null, "no Chromium here to open the report in (CI installs it: apt-get install chromium)");
        (int code, string output) = HostTools.Run(chromium!, ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000", "--dump-dom", "file://" + page], TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        Assert.Contains("data-ready=\"1\"", output); // set by the last line of the report's script
        Assert.DoesNotContain("Uncaught", output);
        Assert.Equal(charts, System.Text.RegularExpressions.Regex.Count(output, "<svg class=\"chart\""));
        Assert.True(System.Text.RegularExpressions.Regex.Count(output, "<path ") >= charts, "fewer drawn paths than charts");

        // The page as a tester sees it: a screenshot that is not blank (a white page compresses to a few KB).
        string png = page + ".png";
        try
        {
            (code, output) = HostTools.Run(chromium!, ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800", "--screenshot=" + png, "file://" + page], TimeSpan.FromSeconds(60));
            Assert.True(code == 0 && File.Exists(png), output);
            byte[] image = File.ReadAllBytes(png);
            Assert.Equal(1400, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(image.AsSpan(16))); // the PNG's IHDR width
            Assert.True(image.Length > 40_000, "the screenshot is " + image.Length + " bytes: a blank page?");
        }
        finally
        {
            File.Delete(png);
        }
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
