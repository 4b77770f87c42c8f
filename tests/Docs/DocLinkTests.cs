using System.Text.RegularExpressions;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Docs;

/// <summary>
/// Every relative link and heading anchor in the README, docs/ and the samples' and changelog's pages resolves, and the
/// README stays a front page.
/// </summary>
[Trait(Lab.Trait, Lab.HostOnly)]
public sealed partial class DocLinkTests
{
    [Fact]
    public void EveryRelativeLinkAndAnchorResolves()
    {
        string root = RepositoryRoot();
        var problems = new List<string>();
        foreach (string page in Pages(root))
        {
            string text = File.ReadAllText(page);
            foreach (Match m in Link().Matches(WithoutCode(text)))
            {
                string target = m.Groups[1].Value;
                if (target.StartsWith("http://", StringComparison.Ordinal) || target.StartsWith("https://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                {
                    continue;
                }

                string? problem = Check(page, target);
                if (problem is not null)
                {
                    problems.Add(Path.GetRelativePath(root, page) + ": (" + target + ") " + problem);
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void TheReadmeIsAFrontPage()
    {
        string[] lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "README.md"));
        Assert.True(lines.Length <= 150, "README.md has " + lines.Length + " lines; the rest belongs in docs/");
    }

    private static string? Check(string page, string target)
    {
        int hash = target.IndexOf('#', StringComparison.Ordinal);
        string path = hash < 0 ? target : target[..hash];
        string anchor = hash < 0 ? "" : target[(hash + 1)..];
        string file = path.Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(path)));
        if (!File.Exists(file) && !Directory.Exists(file))
        {
            return "no such file";
        }

        if (anchor.Length == 0)
        {
            return null;
        }

        if (!file.EndsWith(".md", StringComparison.Ordinal))
        {
            return "an anchor into a file that is not Markdown";
        }

        return Anchors(File.ReadAllText(file)).Contains(anchor) ? null : "no heading with that anchor";
    }

    // GitHub's anchors: the heading lowercased, punctuation other than '-' and '_' dropped, spaces as '-'; repeats get -1, -2.
    private static HashSet<string> Anchors(string markdown)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        foreach (string line in WithoutCode(markdown).Split('\n'))
        {
            Match h = Heading().Match(line);
            if (!h.Success)
            {
                continue;
            }

            string slug = Punctuation().Replace(h.Groups[1].Value.Trim().ToLowerInvariant(), "").Replace(' ', '-');
            string unique = slug;
            for (int n = 1; !anchors.Add(unique); n++)
            {
                unique = slug + "-" + n;
            }
        }

        return anchors;
    }

    private static string WithoutCode(string markdown) => Fence().Replace(markdown, "");

    private static IEnumerable<string> Pages(string root)
    {
        yield return Path.Combine(root, "README.md");
        yield return Path.Combine(root, "CHANGELOG.md");
        foreach (string page in Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md"))
        {
            yield return page;
        }

        foreach (string page in Directory.EnumerateFiles(Path.Combine(root, "samples"), "*.md", SearchOption.AllDirectories))
        {
            yield return page;
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "perf.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("perf.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"\[[^\]]*\]\(([^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^#{1,6} (.+)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\w\- ]")]
    private static partial Regex Punctuation();

    [GeneratedRegex(@"```.*?```", RegexOptions.Singleline)]
    private static partial Regex Fence();
}
