"""Every user-visible text in zh-CN and en: chat replies and the web pages' words, looked up
by key and formatted with named parameters (`{name}`, `{n:plural:one|other}`).

Chat, the reader pages, the `/` web page and the dashboard all read their sentences here
(but a command's help lines and menu entry, declared with the command); code never builds
user-facing text from str(e).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

DEFAULT_LANG = "zh-CN"
LANGS = ("zh-CN", "en")

_CATALOG: dict[str, dict[str, str]] = {
    # Telegram only: the bot joined a group where privacy mode hides ordinary messages.
    "telegram_privacy_mode": {
        "zh-CN": (
            "⚠️ 我现在看不到群里的普通消息（Telegram 隐私模式开启），所以不会自动缩短链接；"
            "/short 等命令照常可用。想要自动缩短：在 @BotFather 发送 /setprivacy，选择本机器人，"
            "选 Disable，然后把我移出群再重新加入。"
        ),
        "en": (
            "⚠️ I can't see ordinary group messages (Telegram privacy mode is on), so links "
            "are not shortened automatically; commands like /short still work. To enable "
            "auto-shortening: send /setprivacy to @BotFather, pick this bot, choose Disable, "
            "then remove me from the group and add me again."
        ),
    },
    # What /help says first; its command lines come from the commands' declarations.
    "help_intro": {
        "zh-CN": (
            "快缩短网址 suo.run\n"
            "· 在群里发链接，我回复短链接和二维码；同一群里同一链接用同一个短码，点击会累计。\n"
            "· 发二维码图片，我识别其中的每个码并把网址缩短。\n"
            "命令："
        ),
        "en": (
            "suo.run short links\n"
            "· Post a link in the group and I reply with a short link and its QR code; the same "
            "link in the same group keeps its code, so clicks add up.\n"
            "· Send a QR photo and I decode every code in it and shorten the links.\n"
            "Commands:"
        ),
    },
    "shortened": {"zh-CN": "🔗 {short}\n↳ {url}", "en": "🔗 {short}\n↳ {url}"},
    "shortened_reused": {
        "zh-CN": "🔗 {short}（本群已有，点击累计）\n↳ {url}",
        "en": "🔗 {short} (already shared here, clicks add up)\n↳ {url}",
    },
    "already_short": {
        "zh-CN": "{url} 已经是短链接，无需再缩短。",
        "en": "{url} is already one of our short links.",
    },
    "url_scheme": {
        "zh-CN": "只能缩短 http:// 或 https:// 开头的网址。",
        "en": "Only http:// and https:// links can be shortened.",
    },
    "url_too_long": {
        "zh-CN": "网址太长（{length} 个字符，上限 {limit}）。",
        "en": "That link is too long ({length} characters, limit {limit}).",
    },
    "url_invalid": {
        "zh-CN": "这不是一个有效的网址。",
        "en": "That is not a valid web address.",
    },
    "url_secret": {
        "zh-CN": (
            "这是群机器人的 Webhook 地址，里面含有密钥，不会缩短。"
            "管理员可以发送 bind <地址> 绑定。"
        ),
        "en": "That is a group robot's webhook address with its secret key; it is not "
        "shortened. Admins can send bind <address> instead.",
    },
    "url_credentials": {
        "zh-CN": (
            "这个网址带有用户名或密码（“@”前面的部分），不会缩短：短链接会把它公开给所有人，"
            "这种写法也常被用来冒充别的网站——它实际打开的是 {host}。"
        ),
        "en": "That link carries a user name or password (the part before “@”), so it is not "
        "shortened: a short link would show it to everyone, and the form is a common disguise "
        "— it really opens {host}.",
    },
    "rules_existing_link": {
        "zh-CN": "这个网址已有短链接 {short}，它的规则不能在这里修改（这次没有改动）。",
        "en": "This address already has a short link, {short}; its rules can't be changed "
        "here (nothing was changed).",
    },
    "shortened_from": {
        "zh-CN": "（你发的是「{written}」，已按上面的网址缩短）",
        "en": "(you wrote “{written}”; shortened as the address above)",
    },
    "link_removed": {
        "zh-CN": "{url} 的短链接已被本群管理员删除，不能再次分享。",
        "en": "An admin of this group removed the short link for {url}; it can't be shared again.",
    },
    "url_blocked": {
        "zh-CN": "抱歉，{host} 在本群不允许缩短。",
        "en": "Sorry, links to {host} can't be shortened here.",
    },
    "short_usage": {
        "zh-CN": "用法：/short <网址>，例如 /short https://example.com",
        "en": "Usage: /short <url>, e.g. /short https://example.com",
    },
    "qr_usage": {
        "zh-CN": "用法：/qr <文字或网址>",
        "en": "Usage: /qr <text or url>",
    },
    "qr_text_too_long": {
        "zh-CN": "文字太长，二维码最多容纳 {limit} 个字符。",
        "en": "That text is too long for a QR code (limit {limit} characters).",
    },
    "qr_made": {"zh-CN": "二维码：{text}", "en": "QR code: {text}"},
    "file_unreadable": {
        "zh-CN": "无法读取文件：{reason}",
        "en": "cannot read the file: {reason}",
    },
    "image_bad_shape": {
        "zh-CN": "这张图片的尺寸异常（{width}×{height} 像素），无法识别二维码。",
        "en": "That image has an odd shape ({width}×{height} pixels); no QR code can be read.",
    },
    "qr_none_found": {
        "zh-CN": "图片中没有找到二维码。请换一张更清晰、二维码更大的照片试试。",
        "en": "No QR code found in that image. Try a sharper photo with the code larger.",
    },
    "qr_found_header": {
        "zh-CN": "识别到 {count} 个二维码：",
        "en": "Found {count} QR code(s):",
    },
    "qr_item": {"zh-CN": "{index}. [{kind}] {text}", "en": "{index}. [{kind}] {text}"},
    "image_too_large": {
        "zh-CN": "图片太大（上限 {limit_mb} MB），请发送压缩后的图片。",
        "en": "That image is too large (limit {limit_mb} MB); please send a smaller one.",
    },
    "image_too_many_pixels": {
        "zh-CN": "图片分辨率太高（上限 {limit_mp} 百万像素），请缩小后再发。",
        "en": (
            "That image has too many pixels (limit {limit_mp} megapixels); please scale it down."
        ),
    },
    "image_unreadable": {
        "zh-CN": "无法读取这张图片（文件损坏或不是图片）。",
        "en": "I couldn't read that image (the file is broken or not an image).",
    },
    "image_unavailable": {
        "zh-CN": "无法获取这张图片，请重新发送。",
        "en": "I couldn't fetch that image; please send it again.",
    },
    "unknown_command": {
        "zh-CN": "不认识的命令 /{command}。发送 /help 查看可用命令。",
        "en": "Unknown command /{command}. Send /help for the list.",
    },
    "stats": {
        "zh-CN": (
            "本群统计：{links} 个链接，{human} 次点击（另有预览 {previews} 次、机器人 {bots} 次）"
        ),
        "en": (
            "This group: {links} {links:plural:link|links}, {human} {human:plural:click|clicks} "
            "({previews} link {previews:plural:preview|previews}, {bots} {bots:plural:bot|bots})"
        ),
    },
    "stats_usage": {
        "zh-CN": "用法：/stats [7d|30d]（默认最近 7 天）",
        "en": "Usage: /stats [7d|30d] (the last 7 days by default)",
    },
    "stats_head": {
        "zh-CN": (
            "最近 {days} 天：分享 {links} 个链接，真人打开 {human} 次（独立读者 {readers}），"
            "另有预览 {previews} 次、机器人 {bots} 次"
        ),
        "en": (
            "Last {days} days: {links} {links:plural:link|links} shared, {human} human "
            "{human:plural:open|opens} ({readers} unique {readers:plural:reader|readers}), plus "
            "{previews} link {previews:plural:preview|previews} and {bots} {bots:plural:bot|bots}"
        ),
    },
    # The boards /stats and the weekly digest both show.
    "board_top_links": {"zh-CN": "热门链接：", "en": "Top links:"},
    "board_link_line": {
        "zh-CN": "{index}. {short} {human} 次 · {sharer}\n   {url}",
        "en": "{index}. {short} {human} {human:plural:open|opens} · {sharer}\n   {url}",
    },
    "board_top_sharers": {"zh-CN": "分享达人：", "en": "Top sharers:"},
    "board_sharer_line": {
        "zh-CN": "{index}. {name}：{links} 个链接，打开 {human} 次",
        "en": (
            "{index}. {name}: {links} {links:plural:link|links}, {human} {human:plural:open|opens}"
        ),
    },
    "board_platforms": {"zh-CN": "打开平台：{mix}", "en": "Opened on: {mix}"},
    "stats_nothing": {
        "zh-CN": "最近 {days} 天还没有人打开本群的链接。",
        "en": "Nobody opened this group's links in the last {days} days.",
    },
    "top_head": {
        "zh-CN": "最近 {days} 天最热门的链接：",
        "en": "Most opened links, last {days} days:",
    },
    "mine_head": {
        "zh-CN": "你在本群分享的链接（最近 {days} 天被打开 {human} 次）：",
        "en": (
            "Your links in this group ({human} {human:plural:open|opens} in the last {days} days):"
        ),
    },
    "mine_nothing": {
        "zh-CN": "你还没有在本群分享过链接。",
        "en": "You haven't shared a link in this group yet.",
    },
    # The weekly digest (bot/digest/): its text, chart labels and the `digest` command.
    "digest_title": {
        "zh-CN": "📊 {title} 周报 · {dates}",
        "en": "📊 {title} weekly digest · {dates}",
    },
    "digest_so_far_title": {
        "zh-CN": "📊 {title} 本周至今（预览）· {dates}",
        "en": "📊 {title} this week so far (preview) · {dates}",
    },
    "digest_numbers": {
        "zh-CN": (
            "分享 {links} 个链接，真人打开 {human} 次，独立读者 {readers}；"
            "另有链接预览 {previews} 次、机器人 {bots} 次。"
        ),
        "en": (
            "{links} {links:plural:link|links} shared, {human} human {human:plural:open|opens}, "
            "{readers} unique {readers:plural:reader|readers}; plus {previews} link "
            "{previews:plural:preview|previews} and {bots} {bots:plural:bot|bots}."
        ),
    },
    "digest_changes": {
        "zh-CN": "较上周：链接 {links}，打开 {human}，读者 {readers}",
        "en": "vs last week: links {links}, opens {human}, readers {readers}",
    },
    "digest_changes_so_far": {
        "zh-CN": "较上周同期：链接 {links}，打开 {human}，读者 {readers}",
        "en": "vs this time last week: links {links}, opens {human}, readers {readers}",
    },
    "digest_change_new": {"zh-CN": "上周为 0", "en": "none last week"},
    "digest_changes_none": {
        "zh-CN": "上周没有可对比的数据，下周起显示变化。",
        "en": "Nothing to compare with last week yet; changes show from next week.",
    },
    "digest_quiet": {
        "zh-CN": "这一周很安静：没有分享新链接，也没有人打开链接。下周见！",
        "en": "A quiet week: no new links, and nobody opened one. See you next week!",
    },
    "digest_quiet_so_far": {
        "zh-CN": "本周到目前为止还很安静：没有分享新链接，也没有人打开链接。",
        "en": "Quiet so far this week: no new links, and nobody opened one.",
    },
    "digest_chart_subtitle": {
        "zh-CN": "每日真人打开 · {dates}",
        "en": "Human opens per day · {dates}",
    },
    "digest_chart_footer": {
        "zh-CN": "真人打开 {human} · 预览 {previews} · 独立读者 {readers} · 较上周 {change}",
        "en": "{human} human {human:plural:open|opens} · {previews} "
        "{previews:plural:preview|previews} · {readers} unique {readers:plural:reader|readers} · "
        "{change} vs last week",
    },
    "digest_chart_footer_first": {
        "zh-CN": "真人打开 {human} · 预览 {previews} · 独立读者 {readers}",
        "en": "{human} human {human:plural:open|opens} · {previews} "
        "{previews:plural:preview|previews} · {readers} unique {readers:plural:reader|readers}",
    },
    "digest_chart_alt": {"zh-CN": "周报图表", "en": "digest chart"},
    "digest_weekdays": {
        "zh-CN": "周一,周二,周三,周四,周五,周六,周日",
        "en": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
    },
    "digest_month_names": {
        "zh-CN": "1月,2月,3月,4月,5月,6月,7月,8月,9月,10月,11月,12月",
        "en": "Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec",
    },
    "digest_date": {"zh-CN": "{month_name}{day}日", "en": "{month_name} {day}"},
    "digest_next": {"zh-CN": "{date}（{weekday}）{time}", "en": "{weekday} {date}, {time}"},
    "digest_show_on": {
        "zh-CN": "周报：开。每{weekday} {time}（{tz}）发到本群，下一期 {next}。",
        "en": "Weekly digest: on, every {weekday} at {time} ({tz}); the next one {next}.",
    },
    "digest_show_off": {
        "zh-CN": "周报：关（原定每{weekday} {time}，{tz}）。",
        "en": "Weekly digest: off (was every {weekday} at {time}, {tz}).",
    },
    "digest_usage": {
        "zh-CN": (
            "管理员可用：digest on|off · digest 周一 09:00 · digest tz Asia/Shanghai · "
            "digest now（预览本周至今）"
        ),
        "en": (
            "Admins: digest on|off · digest mon 09:00 · digest tz Europe/Berlin · "
            "digest now (this week so far)"
        ),
    },
    "digest_time_invalid": {
        "zh-CN": "没看懂“{text}”。例如：digest 周一 09:00、digest fri 18:30",
        "en": 'Couldn\'t read "{text}". For example: digest mon 09:00 or digest 周五 18:30',
    },
    "digest_tz_invalid": {
        "zh-CN": "不认识的时区“{tz}”。请用 IANA 名称，例如 Asia/Shanghai、Europe/Berlin。",
        "en": 'Unknown timezone "{tz}". Use an IANA name such as Asia/Shanghai or Europe/Berlin.',
    },
    "digest_operator_off": {
        "zh-CN": "（本服务的运营者关闭了周报，暂不会发送。）",
        "en": "(The operator of this service has turned digests off; none are sent.)",
    },
    "digest_unbound_hint": {
        "zh-CN": (
            "⚠️ 本群还没有绑定群机器人，周报发不出来。管理员：群设置 → 群机器人 → 添加机器人，"
            "复制它的 Webhook 地址，然后发送 bind <Webhook 地址>。"
        ),
        "en": (
            "⚠️ No group robot is bound here, so digests cannot be posted. Admins: group "
            "settings → group robots → add a robot, copy its webhook address, then send "
            "bind <webhook URL>."
        ),
    },
    # The web dashboard (bot/dashboard.py).
    "dashboard_link": {
        "zh-CN": (
            "📊 本群看板（最近 {days} 天：真人打开 {human} 次，独立读者 {readers}）：\n{url}\n"
            "链接有效期至 {expires}，群成员都能查看；请勿转发到群外。"
        ),
        "en": (
            "📊 This group's dashboard (last {days} days: {human} human opens, {readers} "
            "unique readers):\n{url}\n"
            "The link works until {expires} for anyone in the group; please don't share it "
            "outside."
        ),
    },
    "dashboard_no_secret": {
        "zh-CN": (
            "看板还没有开启：请运营者在配置文件中设置 server.secret（或环境变量 SUO_SECRET），"
            "用于签名看板链接。"
        ),
        "en": (
            "The dashboard is not available yet: the operator must set server.secret in the "
            "config file (or the SUO_SECRET environment variable) to sign dashboard links."
        ),
    },
    "dashboard_usage": {
        "zh-CN": "用法：/dashboard [7d|30d]（默认最近 7 天）",
        "en": "Usage: /dashboard [7d|30d] (the last 7 days by default)",
    },
    # The web page as a member of the group (bot/web.py).
    "web_link": {
        "zh-CN": (
            "🌐 在网页上生成本群的短链接、识别二维码：\n{url}\n"
            "在这里生成的链接属于本群，遵守本群的规则，记在你名下。"
            "链接有效期至 {expires}；请勿转发到群外。"
        ),
        "en": (
            "🌐 Make this group's short links and read QR photos on the web:\n{url}\n"
            "Links made there belong to this group, follow its rules and are shared in your "
            "name. The link works until {expires}; please don't share it outside the group."
        ),
    },
    "web_no_secret": {
        "zh-CN": (
            "网页版还不能关联本群：请运营者在配置文件中设置 server.secret（或环境变量 "
            "SUO_SECRET），用于签名网页链接。"
        ),
        "en": (
            "The web page can't act for this group yet: the operator must set server.secret in "
            "the config file (or the SUO_SECRET environment variable) to sign its links."
        ),
    },
    "web_disabled": {
        "zh-CN": "这个服务没有开启网页版（[web] enabled = false）。",
        "en": "The web page is turned off on this service ([web] enabled = false).",
    },
    "admin_only": {
        "zh-CN": "只有群管理员可以使用这个命令。",
        "en": "Only group admins can use this command.",
    },
    "bind_wecom_only": {
        "zh-CN": "bind 用于企业微信群：把群机器人的 Webhook 地址绑定到本群。",
        "en": "bind is for WeCom groups: it links the group robot's webhook to the group.",
    },
    "bind_usage": {
        "zh-CN": (
            "用法：bind <群机器人 Webhook 地址或 key>（群设置 → 群机器人 → 复制 Webhook 地址）"
        ),
        "en": "Usage: bind <group robot webhook URL or key> (group settings → robots → copy "
        "the webhook address)",
    },
    "bind_done": {
        "zh-CN": "已绑定群机器人（key {masked_key}），周报和提醒将通过它发到本群。",
        "en": (
            "Group robot bound (key {masked_key}); digests and reminders will be posted "
            "through it."
        ),
    },
    "admin_usage": {
        "zh-CN": "用法：admin add <成员账号>（企业微信的 userid）",
        "en": "Usage: admin add <member user id>",
    },
    "admin_added": {
        "zh-CN": "已把 {user} 设为本群的机器人管理员。",
        "en": "{user} is now an admin of this bot in this group.",
    },
    "bind_invalid": {
        "zh-CN": (
            "⚠️ 本群绑定的群机器人（key {masked_key}）已失效（被删除或移出群），已解除绑定。"
            "请重新添加群机器人，并发送 bind <Webhook 地址>。"
        ),
        "en": (
            "⚠️ The group robot bound here (key {masked_key}) no longer works (deleted or "
            "removed) and was unbound. Add a group robot again and send bind <webhook URL>."
        ),
    },
    "internal_error": {
        "zh-CN": "抱歉，出了点问题，请稍后再试。",
        "en": "Sorry, something went wrong. Please try again later.",
    },
    "platforms_unknown": {
        "zh-CN": (
            "不认识的平台：{names}。可用：微信 企业微信 QQ 钉钉 支付宝 飞书 微博 抖音 Telegram "
            "苹果 安卓 电脑 手机（苹果+安卓）浏览器（手机+电脑）应用（所有聊天应用）"
        ),
        "en": (
            "Unknown platform: {names}. Known: wechat wecom qq dingtalk alipay lark weibo douyin "
            "telegram ios android desktop mobile (ios+android) browser (mobile+desktop) apps "
            "(every chat app)"
        ),
    },
    "duration_invalid": {
        "zh-CN": "看不懂时长“{text}”。例如：30m、12h、7d、2w、7天，或 off 表示永久。",
        "en": "Can't read the duration “{text}”. Try 30m, 12h, 7d, 2w, or off for never.",
    },
    "max_invalid": {
        "zh-CN": "次数“{text}”无效，请写一个正整数，或 off 表示不限。",
        "en": "“{text}” is not a valid count: use a positive whole number, or off for no limit.",
    },
    "option_unknown": {
        "zh-CN": "不认识的选项 {name}=。可用：平台= 防红= 有效期= 次数=",
        "en": "Unknown option {name}=. Known: platforms= antired= expires= max=",
    },
    "rules_admin_only": {
        "zh-CN": (
            "只有群管理员可以给链接设置规则（平台、防红、有效期、次数）。去掉选项即可生成短链接。"
        ),
        "en": "Only group admins can set link rules (platforms, antired, expires, max). "
        "Leave the options out to get a short link.",
    },
    "settings_show": {
        "zh-CN": (
            "本群规则：\n"
            "· 自动缩短：{auto}\n"
            "· 可打开的平台：{platforms}\n"
            "· 防红引导（提示用浏览器打开）：{anti_red}\n"
            "· 新链接有效期：{expiry}\n"
            "· 语言：{language}\n"
            "· 禁止的域名：{blocked}"
        ),
        "en": (
            "This group's rules:\n"
            "· auto-shorten: {auto}\n"
            "· opens on: {platforms}\n"
            "· open-in-browser guide: {anti_red}\n"
            "· new links expire after: {expiry}\n"
            "· language: {language}\n"
            "· blocked domains: {blocked}"
        ),
    },
    "settings_usage": {
        "zh-CN": (
            "管理员可以修改：\n"
            "/settings 平台 微信,QQ,手机（或 所有）\n"
            "/settings 防红 开 | 关 | 微信,QQ\n"
            "/settings 有效期 7天 | 关\n"
            "/settings 自动 开 | 关\n"
            "/settings 语言 zh | en"
        ),
        "en": (
            "Admins can change:\n"
            "/settings platforms wechat,qq,mobile (or all)\n"
            "/settings antired on | off | wechat,qq\n"
            "/settings expiry 7d | off\n"
            "/settings auto on | off\n"
            "/settings lang zh | en"
        ),
    },
    "block_list": {
        "zh-CN": (
            "本群禁止缩短的域名：{domains}\n管理员：/block <域名> 添加，/unblock <域名> 移除。"
        ),
        "en": "Domains never shortened here: {domains}\n"
        "Admins: /block <domain> to add, /unblock <domain> to remove.",
    },
    "block_invalid": {
        "zh-CN": "“{text}”不是域名，例如：/block example.com",
        "en": "“{text}” is not a domain. Example: /block example.com",
    },
    "block_done": {
        "zh-CN": "好的，本群不再缩短 {domain} 及其子域名的链接。",
        "en": "Done: links to {domain} and its subdomains are no longer shortened here.",
    },
    "unblock_done": {
        "zh-CN": "好的，{domain} 已从本群的禁止列表移除。",
        "en": "Done: {domain} is no longer blocked here.",
    },
    "delete_usage": {
        "zh-CN": "用法：/delete <短码或短链接>",
        "en": "Usage: /delete <code or short link>",
    },
    "delete_not_found": {
        "zh-CN": "本群没有正在使用的短码 {link}。",
        "en": "This group has no active link with code {link}.",
    },
    "delete_done": {
        "zh-CN": "已删除 {short}：之后打开它会看到“链接已被删除”。",
        "en": "Removed {short}: from now on it shows a “link removed” page.",
    },
    # Refusals and risk labels (bot/admission.py), creation limits (bot/limits.py).
    "url_private": {
        "zh-CN": "{host} 是内网或本机地址，群成员打不开，不能缩短分享。",
        "en": "{host} is an internal or local address; it can't be shared as a short link.",
    },
    "url_ip_literal": {
        "zh-CN": "{ip} 是 IP 地址；只能缩短使用域名的链接。",
        "en": "{ip} is an IP address; links must use a domain name to be shortened.",
    },
    "rate_member": {
        "zh-CN": "你创建短链接太频繁了，请 {seconds} 秒后再试。",
        "en": "You are creating short links too fast; try again in {seconds} s.",
    },
    "rate_group": {
        "zh-CN": "本群创建短链接太频繁了，请 {seconds} 秒后再试。",
        "en": "This group is creating short links too fast; try again in {seconds} s.",
    },
    "risk.label": {"zh-CN": "⚠️ {risks}", "en": "⚠️ {risks}"},
    "risk.separator": {"zh-CN": "；", "en": "; "},
    "risk.private": {
        "zh-CN": "内网或本机地址",
        "en": "internal or local address",
    },
    "risk.ip_literal": {
        "zh-CN": "IP 地址链接（没有域名）",
        "en": "IP address instead of a domain name",
    },
    "risk.blocked": {
        "zh-CN": "被屏蔽的域名",
        "en": "blocked domain",
    },
    "risk.lookalike": {
        "zh-CN": "域名含形似拉丁字母的其他文字（如西里尔字母），可能仿冒其他网站",
        "en": "look-alike letters from another script in the domain: may imitate another site",
    },
    "risk.shortener": {
        "zh-CN": "短链接跳转（真实去向被隐藏）",
        "en": "shortener: hides the real destination",
    },
    # What a decoded QR code holds (bot/qr/payload.py, bot/purposes.py), and payment warnings.
    "kind.url": {"zh-CN": "网址", "en": "URL"},
    "kind.wifi": {"zh-CN": "Wi-Fi", "en": "Wi-Fi"},
    "kind.vcard": {"zh-CN": "名片", "en": "vCard"},
    "kind.mecard": {"zh-CN": "名片", "en": "MeCard"},
    "kind.bookmark": {"zh-CN": "书签", "en": "bookmark"},
    "kind.email": {"zh-CN": "邮件", "en": "email"},
    "kind.phone": {"zh-CN": "电话", "en": "phone"},
    "kind.sms": {"zh-CN": "短信", "en": "SMS"},
    "kind.geo": {"zh-CN": "位置", "en": "location"},
    "kind.text": {"zh-CN": "文字", "en": "text"},
    "kind.payment": {"zh-CN": "收款码", "en": "payment code"},
    "kind.invite": {"zh-CN": "入群邀请", "en": "group invite"},
    "kind.contact": {"zh-CN": "名片（加好友 / 公众号）", "en": "contact card"},
    "kind.miniprogram": {"zh-CN": "小程序", "en": "mini-program"},
    "qr_payment_warning": {
        "zh-CN": (
            "⚠️ 这是收款码：扫码付款的钱会进发码人的账户。「扫码领红包」是群里常见的骗局，"
            "请勿扫码付款。未生成短链接（管理员可用 /short 明确缩短）。"
        ),
        "en": (
            '⚠️ This is a payment code: scanning it pays whoever posted it. "Scan to get a '
            'red packet" is a classic group scam. Not shortened (an admin can still /short it).'
        ),
    },
    "url_payment": {
        "zh-CN": (
            "⚠️ 这是收款码链接：打开即向对方付款（「扫码领红包」是常见骗局）。"
            "只有管理员用 /short 明确要求时才会缩短。"
        ),
        "en": (
            '⚠️ This is a payment link: opening it pays whoever posted it ("scan to get a red '
            "packet\" is a classic scam). Only an admin's explicit /short shortens it."
        ),
    },
    "live_usage": {
        "zh-CN": (
            "活码用法：\n/live create <名称> [网址] · /live set <名称> <网址> · "
            "/live add <名称> <网址> · /live drop <名称> <序号> · /live list · "
            "/live show <名称> · /live delete <名称>\n"
            "目标后可加 cap=190（打开多少次后换下一个）和 expires=7d（有效期）；"
            "也可以发二维码图片并附言 /live set <名称>。"
        ),
        "en": (
            "Live codes:\n/live create <name> [url] · /live set <name> <url> · "
            "/live add <name> <url> · /live drop <name> <n> · /live list · /live show <name> · "
            "/live delete <name>\n"
            "After a target: cap=190 (opens before scans move on) and expires=7d; or send a QR "
            "photo captioned /live set <name>."
        ),
    },
    "live_name_invalid": {
        "zh-CN": "活码名称“{name}”无效：最多 32 个字，只能用文字、数字、点、横线和下划线。",
        "en": "“{name}” can't be a live code's name: up to 32 letters, digits, dots, dashes "
        "or underscores.",
    },
    "live_not_found": {
        "zh-CN": "本群没有名为“{name}”的活码。发送 /live list 查看全部。",
        "en": "This group has no live code named “{name}”. /live list shows them all.",
    },
    "live_name_taken": {
        "zh-CN": "本群已有名为“{name}”的活码，请换个名称，或用 /live set {name} <网址> 更换目标。",
        "en": "This group already has a live code named “{name}”: pick another name, or "
        "re-point it with /live set {name} <url>.",
    },
    "live_created": {
        "zh-CN": "✅ 活码“{name}”已创建：{short}\n这张海报上的二维码永久有效，换目标不用重新印。",
        "en": "✅ Live code “{name}” created: {short}\nThe poster's QR code never changes; "
        "swap its target any time without reprinting.",
    },
    "live_no_target_yet": {
        "zh-CN": (
            "还没有目标：发送群二维码图片并附言 /live set {name}，或 /live set {name} <网址>。"
        ),
        "en": "No target yet: send a group QR photo captioned /live set {name}, or "
        "/live set {name} <url>.",
    },
    "live_set_done": {
        "zh-CN": "🔁 活码“{name}”（{short}）现在指向：",
        "en": "🔁 Live code “{name}” ({short}) now points to:",
    },
    "live_added": {
        "zh-CN": "➕ 已加入活码“{name}”（{short}）的备用目标：",
        "en": "➕ Added as a backup target of live code “{name}” ({short}):",
    },
    "live_target_line": {"zh-CN": "↳ {url}", "en": "↳ {url}"},
    "live_opens_cap": {
        "zh-CN": "已打开 {opens}/{cap} 次",
        "en": "opened {opens} of {cap} {cap:plural:time|times}",
    },
    "live_opens": {
        "zh-CN": "已打开 {opens} 次",
        "en": "opened {opens} {opens:plural:time|times}",
    },
    "live_expires": {"zh-CN": "{when} 过期", "en": "expires {when}"},
    "live_no_expiry": {"zh-CN": "不过期", "en": "no expiry"},
    "live_none": {
        "zh-CN": "本群还没有活码。管理员发送 /live create <名称> 创建。",
        "en": "No live codes here yet. Admins create one with /live create <name>.",
    },
    "live_list_head": {
        "zh-CN": "本群的活码（{count} 个）：",
        "en": "This group's live codes ({count}):",
    },
    "live_list_line": {
        "zh-CN": "· {name} {short}\n  → {target}（备用 {waiting} 个）",
        "en": "· {name} {short}\n  → {target} ({waiting} {waiting:plural:backup|backups})",
    },
    "live_no_target": {
        "zh-CN": "没有可用目标（扫码的人会看到“请联系群主”）",
        "en": "no usable target (readers are asked to contact the group)",
    },
    "live_show_head": {"zh-CN": "活码“{name}” {short}", "en": "Live code “{name}” {short}"},
    "live_state.current": {"zh-CN": "当前", "en": "current"},
    "live_state.waiting": {"zh-CN": "备用", "en": "backup"},
    "live_state.full": {"zh-CN": "已满", "en": "full"},
    "live_state.expired": {"zh-CN": "已过期", "en": "expired"},
    "live_state.retired": {"zh-CN": "已更换", "en": "replaced"},
    "live_history": {"zh-CN": "历史目标：", "en": "Earlier targets:"},
    "live_history_line": {
        "zh-CN": "· {url}（打开 {opens} 次，用到 {until}）",
        "en": "· {url} ({opens} {opens:plural:open|opens}, until {until})",
    },
    "live_deleted": {
        "zh-CN": "🗑 活码“{name}”已删除，扫码的人会看到“已删除”。",
        "en": "🗑 Live code “{name}” deleted; scanning it now says it was removed.",
    },
    "live_drop_unknown": {
        "zh-CN": "活码“{name}”的目标里没有第 {index} 个：发送 /live show {name} 查看序号。",
        "en": "Live code “{name}” has no target number {index}: /live show {name} numbers them.",
    },
    "live_dropped": {
        "zh-CN": "已从活码“{name}”移除目标：{url}",
        "en": "Removed from live code “{name}”: {url}",
    },
    "live_target_missing": {
        "zh-CN": "请给出目标网址，或发送二维码图片并附言这条命令。",
        "en": "Give the target's URL, or send a QR photo with this command as its caption.",
    },
    "live_no_qr": {
        "zh-CN": "图片里没有找到含网址的二维码。",
        "en": "No QR code with a link was found in that photo.",
    },
    "live_target_own": {
        "zh-CN": "活码不能指向本服务的短链接。",
        "en": "A live code can't point to one of our own short links.",
    },
    "live_remind_expiring": {
        "zh-CN": "⏰ 活码“{name}”当前的目标将在 {when} 过期：\n{url}\n{after}",
        "en": "⏰ Live code “{name}”: its current target expires {when}:\n{url}\n{after}",
    },
    "live_remind_then": {
        "zh-CN": "之后扫码会转到：{url}",
        "en": "Scans then go to: {url}",
    },
    "live_remind_then_dry": {
        "zh-CN": "之后没有备用目标了：请发送新的群二维码并附言 /live set {name}。",
        "en": "No backup follows it: send the new group QR captioned /live set {name}.",
    },
    "live_remind_filling": {
        "zh-CN": (
            "⚠️ 活码“{name}”的最后一个目标快满了（已打开 {opens}/{cap} 次）：\n{url}\n"
            "请建新群并发送它的二维码，附言 /live add {name}。"
        ),
        "en": (
            "⚠️ Live code “{name}”: its last target is nearly full ({opens} of {cap} opens):"
            "\n{url}\nStart a new group and send its QR captioned /live add {name}."
        ),
    },
    "live_remind_empty": {
        "zh-CN": (
            "🚫 活码“{name}”（{short}）已没有可用目标（已满或已过期），扫码的人只能看到"
            "“请联系群主”。请发送新的群二维码并附言 /live set {name}。"
        ),
        "en": (
            "🚫 Live code “{name}” ({short}) has no usable target left (full or expired): "
            "readers are asked to contact the group. Send a new group QR captioned "
            "/live set {name}."
        ),
    },
    # WeCom's quick answer when the reply takes longer than its callback may wait.
    "image_host_refused": {
        "zh-CN": "这张图片来自不受信任的地址，未读取。如果一再出现，请告诉管理员。",
        "en": "That image comes from an address this bot does not trust, so it was not read. "
        "If this keeps happening, tell the operator.",
    },
    "result_undeliverable": {
        "zh-CN": "处理时间较长，但这条消息的回复地址不受信任，结果无法送达。请告诉管理员。",
        "en": "This takes a while, and this message's reply address is not trusted, so the "
        "result cannot be delivered. Please tell the operator.",
    },
    "working": {
        "zh-CN": "收到，正在处理，稍后把结果发到群里…",
        "en": "Got it, working on it; the result follows shortly…",
    },
}

# The web pages' texts (the redirector's reader pages, the `/` web page, the dashboard) by
# area. A template reads its area's texts (and the `common` ones) as `t.key` through `texts`,
# so no short key may share a name with a mapping method; code uses the full key.
_PAGE_TEXTS: dict[str, dict[str, str]] = {
    # --- common ---
    "common.home": {
        "zh-CN": "返回首页",
        "en": "Go to the start page",
    },
    "common.copied": {
        "zh-CN": "已复制",
        "en": "Copied",
    },
    "common.copy_failed": {
        "zh-CN": "无法自动复制，请长按链接手动复制",
        "en": "Could not copy; press and hold the link to copy it",
    },
    # --- message ---
    "message.not_found.title": {
        "zh-CN": "链接不存在",
        "en": "Link not found",
    },
    "message.not_found.text": {
        "zh-CN": "这个短链接不存在，可能输入有误。请检查链接或联系分享者。",
        "en": "This short link does not exist. Check it or ask who shared it.",
    },
    "message.unavailable.title": {
        "zh-CN": "请稍后再试",
        "en": "Try again shortly",
    },
    "message.unavailable.text": {
        "zh-CN": "服务暂时不可用，请稍后刷新。",
        "en": "The service is briefly unavailable. Please reload soon.",
    },
    "message.gone.title": {
        "zh-CN": "链接已失效",
        "en": "Link disabled",
    },
    "message.gone.text": {
        "zh-CN": "这个短链接已被停用。",
        "en": "This short link has been disabled.",
    },
    "message.expired.title": {
        "zh-CN": "链接已过期",
        "en": "Link expired",
    },
    "message.expired.text": {
        "zh-CN": "这个短链接已过有效期，请向分享者索取新的链接。",
        "en": "This short link has expired. Ask whoever shared it for a new one.",
    },
    "message.exhausted.title": {
        "zh-CN": "访问次数已用完",
        "en": "Max opens reached",
    },
    "message.exhausted.text": {
        "zh-CN": "这个短链接的打开次数已达到分享者设置的上限。",
        "en": "This short link has been opened as many times as its sharer allowed.",
    },
    "message.removed.title": {
        "zh-CN": "链接已被删除",
        "en": "Link removed",
    },
    "message.removed.text": {
        "zh-CN": "群管理员已删除这个短链接。",
        "en": "An admin of the group removed this short link.",
    },
    "message.no_page.title": {
        "zh-CN": "没有这个页面",
        "en": "Page not found",
    },
    "message.no_page.text": {
        "zh-CN": "这个地址上什么也没有。短链接请检查是否完整。",
        "en": "There is nothing at this address. Check the link is complete.",
    },
    "message.wrong_method.title": {
        "zh-CN": "无法这样打开",
        "en": "Not like this",
    },
    "message.wrong_method.text": {
        "zh-CN": "这个地址不能用这种方式访问，请直接在浏览器中打开。",
        "en": "This address can't be used this way; open it in a browser.",
    },
    "message.too_large.title": {
        "zh-CN": "内容太大",
        "en": "Too large",
    },
    "message.too_large.text": {
        "zh-CN": "发送的内容超过了上限，请缩小后再试。",
        "en": "What was sent is over the limit; please send something smaller.",
    },
    "message.bad_request.title": {
        "zh-CN": "请求有误",
        "en": "Bad request",
    },
    "message.bad_request.text": {
        "zh-CN": "无法处理这个请求，请返回重试。",
        "en": "This request could not be handled; go back and try again.",
    },
    "message.live_empty.title": {
        "zh-CN": "暂时无法加入",
        "en": "Can't join right now",
    },
    "message.live_empty.text": {
        "zh-CN": (
            "这个二维码暂时没有可用的入口（群已满或二维码已过期）。"
            "请联系群主或分享者获取新的入口，稍后再扫一次也可以。"
        ),
        "en": (
            "This code has no open way in at the moment (the group is full or its QR expired). "
            "Please contact the group or whoever shared it, or scan again later."
        ),
    },
    # --- page ---
    "page.guide_title": {
        "zh-CN": "请在浏览器中打开",
        "en": "Open this link in your browser",
    },
    "page.guide_why": {
        "zh-CN": ("{app}的内置浏览器可能会拦截外部链接或显示安全提示，在手机浏览器中打开更顺畅。"),
        "en": (
            "{app}'s in-app browser may block outside links or show a warning before them; your "
            "phone's browser opens them normally."
        ),
    },
    "page.destination": {
        "zh-CN": "这个链接将打开",
        "en": "This link opens",
    },
    "page.steps_title": {
        "zh-CN": "打开方法",
        "en": "How to open it",
    },
    "page.step_ios_menu": {
        "zh-CN": "点击右上角的「···」",
        "en": "Tap “···” at the top right",
    },
    "page.step_ios_open": {
        "zh-CN": "选择「在 Safari 中打开」",
        "en": "Choose “Open in Safari”",
    },
    "page.step_android_menu": {
        "zh-CN": "点击右上角的「⋮」或「···」",
        "en": "Tap “⋮” or “···” at the top right",
    },
    "page.step_android_open": {
        "zh-CN": "选择「在浏览器打开」",
        "en": "Choose “Open in browser”",
    },
    "page.step_other_menu": {
        "zh-CN": "点击{app}右上角的菜单",
        "en": "Open {app}'s menu at the top right",
    },
    "page.step_other_open": {
        "zh-CN": "选择在浏览器中打开；或复制下面的链接，粘贴到浏览器地址栏",
        "en": (
            "Choose to open in your browser, or copy the link below and paste it into your "
            "browser's address bar"
        ),
    },
    "page.menu_hint": {
        "zh-CN": "点这里「{menu}」",
        "en": "Tap “{menu}” here",
    },
    "page.copy_hint": {
        "zh-CN": "也可以复制链接，粘贴到浏览器中打开：",
        "en": "Or copy the link and paste it into your browser:",
    },
    "page.short_link": {
        "zh-CN": "短链接",
        "en": "Short link",
    },
    "page.copy_button": {
        "zh-CN": "复制链接",
        "en": "Copy link",
    },
    "page.continue": {
        "zh-CN": "继续访问",
        "en": "Continue here anyway",
    },
    "page.continue_note": {
        "zh-CN": "在{app}中直接打开目标网址",
        "en": "opens the destination inside {app}",
    },
    "page.platform_title": {
        "zh-CN": "无法在这里打开",
        "en": "This link can't open here",
    },
    "page.platform_only": {
        "zh-CN": "这个链接只能在以下地方打开：{allowed}。",
        "en": "This link opens only in: {allowed}.",
    },
    "page.platform_current": {
        "zh-CN": "你现在使用的是：{current}。",
        "en": "You are using: {current}.",
    },
    "page.platform_copy_hint": {
        "zh-CN": "复制链接，到{allowed}中打开：",
        "en": "Copy the link and open it in {allowed}:",
    },
    "page.info_title": {
        "zh-CN": "短链接信息",
        "en": "Short link info",
    },
    "page.info_target": {
        "zh-CN": "目标网址",
        "en": "Destination",
    },
    "page.info_group": {
        "zh-CN": "所在群",
        "en": "Group",
    },
    "page.info_sharer": {
        "zh-CN": "分享者",
        "en": "Shared by",
    },
    "page.info_unknown": {
        "zh-CN": "未知",
        "en": "unknown",
    },
    "page.info_created": {
        "zh-CN": "创建时间",
        "en": "Created",
    },
    "page.info_clicks": {
        "zh-CN": "真人打开次数",
        "en": "Opens by people",
    },
    "page.info_status": {
        "zh-CN": "状态",
        "en": "Status",
    },
    "page.status_active": {
        "zh-CN": "有效",
        "en": "Active",
    },
    "page.status_expired": {
        "zh-CN": "已过期",
        "en": "Expired",
    },
    "page.status_exhausted": {
        "zh-CN": "访问次数已用完",
        "en": "Max opens reached",
    },
    "page.status_removed": {
        "zh-CN": "已删除",
        "en": "Removed",
    },
    "page.live_qr_title": {
        "zh-CN": "长按识别二维码加入群聊",
        "en": "Press and hold the QR code to join",
    },
    "page.live_qr_hint": {
        "zh-CN": "在微信中长按上面的二维码，选择「识别图中的二维码」。",
        "en": "In WeChat, press and hold the QR code above and choose “Scan QR Code in Image”.",
    },
    "page.live_qr_elsewhere": {
        "zh-CN": "不在微信里？用微信「扫一扫」扫描上面的二维码。",
        "en": "Not in WeChat? Scan the code above with WeChat's scanner.",
    },
    # --- web ---
    "web.title": {
        "zh-CN": "快缩短网址",
        "en": "suo.run short links",
    },
    "web.tagline": {
        "zh-CN": "生成短链接 · 扫描二维码 · 防红引导",
        "en": "Short links · QR codes · open-in-browser guide",
    },
    "web.switch": {
        "zh-CN": "English",
        "en": "中文",
    },
    "web.group_note": {
        "zh-CN": "在这里生成的链接属于群「{group}」，遵守本群的规则。",
        "en": "Links made here belong to the group “{group}” and follow its rules.",
    },
    "web.group_member_note": {
        "zh-CN": "只有群管理员可以设置单个链接的规则；本群默认规则照常生效。",
        "en": "Only the group's admins can set one link's rules; the group's own rules apply.",
    },
    "web.shorten_title": {
        "zh-CN": "生成短链接",
        "en": "Make a short link",
    },
    "web.url_label": {
        "zh-CN": "网址",
        "en": "Link",
    },
    "web.url_placeholder": {
        "zh-CN": "粘贴要缩短的链接",
        "en": "Paste the link to shorten",
    },
    "web.platforms_title": {
        "zh-CN": "允许访问的平台",
        "en": "Where it may open",
    },
    "web.platforms_hint": {
        "zh-CN": "都不选：按默认（{default}）。",
        "en": "None chosen: the default ({default}).",
    },
    "web.antired_title": {
        "zh-CN": "防红引导",
        "en": "Open-in-browser guide",
    },
    "web.antired_hint": {
        "zh-CN": "在所选聊天应用里打开时，先显示“请在浏览器中打开”的说明页，避免链接被拦截。",
        "en": (
            "Readers in the chosen chat apps first see a page explaining how to open the link in "
            "their browser, so the app does not block it."
        ),
    },
    "web.antired_default": {
        "zh-CN": "默认（{default}）",
        "en": "Default ({default})",
    },
    "web.antired_on": {
        "zh-CN": "所有聊天应用",
        "en": "Every chat app",
    },
    "web.antired_off": {
        "zh-CN": "关闭",
        "en": "Off",
    },
    "web.antired_some": {
        "zh-CN": "仅以下应用：",
        "en": "Only these apps:",
    },
    "web.expiry_title": {
        "zh-CN": "有效期",
        "en": "Expires",
    },
    "web.expiry_default": {
        "zh-CN": "默认（{default}）",
        "en": "Default ({default})",
    },
    "web.expiry_never": {
        "zh-CN": "永久",
        "en": "Never",
    },
    "web.expiry_1h": {
        "zh-CN": "1 小时",
        "en": "in 1 hour",
    },
    "web.expiry_1d": {
        "zh-CN": "1 天",
        "en": "in 1 day",
    },
    "web.expiry_7d": {
        "zh-CN": "7 天",
        "en": "in 7 days",
    },
    "web.expiry_30d": {
        "zh-CN": "30 天",
        "en": "in 30 days",
    },
    "web.max_title": {
        "zh-CN": "最多打开次数",
        "en": "Max opens",
    },
    "web.max_placeholder": {
        "zh-CN": "不限",
        "en": "no limit",
    },
    "web.options_title": {
        "zh-CN": "链接规则（可选）",
        "en": "Link rules (optional)",
    },
    "web.shorten_button": {
        "zh-CN": "生成短链接",
        "en": "Shorten",
    },
    "web.result_title": {
        "zh-CN": "短链接",
        "en": "Short link",
    },
    "web.result_reused": {
        "zh-CN": "这个链接已经有短链接，点击会累计。",
        "en": "This link already had a short link; clicks add up.",
    },
    "web.copy_button": {
        "zh-CN": "复制",
        "en": "Copy",
    },
    "web.download_qr": {
        "zh-CN": "下载二维码",
        "en": "Download QR code",
    },
    "web.qr_alt": {
        "zh-CN": "短链接的二维码",
        "en": "QR code of the short link",
    },
    "web.target": {
        "zh-CN": "目标网址",
        "en": "Destination",
    },
    "web.scan_title": {
        "zh-CN": "扫描二维码 / 上传二维码",
        "en": "Scan or upload a QR code",
    },
    "web.scan_hint": {
        "zh-CN": (
            "拍照或选择含二维码的图片（可多张，共 {mb} MB 以内），识别其中每个码，"
            "并为网址生成短链接。"
        ),
        "en": (
            "Take or choose photos with QR codes (several at once, {mb} MB in all): every code in "
            "them is read, and links get a short link."
        ),
    },
    "web.camera_button": {
        "zh-CN": "拍照扫码",
        "en": "Take a photo",
    },
    "web.gallery_button": {
        "zh-CN": "从相册选择",
        "en": "Choose photos",
    },
    "web.scan_button": {
        "zh-CN": "识别",
        "en": "Read codes",
    },
    "web.scan_results": {
        "zh-CN": "识别结果",
        "en": "What the photos hold",
    },
    "web.photo": {
        "zh-CN": "图片 {index}",
        "en": "Photo {index}",
    },
    "web.found": {
        "zh-CN": "找到 {count} 个二维码",
        "en": "{count} QR code(s) found",
    },
    "web.none_found": {
        "zh-CN": "没有找到二维码。请拍清楚一些，让二维码占满画面再试。",
        "en": "No QR code found. Try a sharper photo with the code filling the frame.",
    },
    "web.payment_warning": {
        "zh-CN": (
            "⚠️ 这是收款码：扫码付款的钱会进发码人的账户。「扫码领红包」是常见骗局，"
            "请勿扫码付款。未生成短链接。"
        ),
        "en": (
            '⚠️ This is a payment code: scanning it pays whoever posted it. "Scan to get a red '
            'packet" is a classic scam. Not shortened.'
        ),
    },
    "web.no_url": {
        "zh-CN": "不是网址，未生成短链接。",
        "en": "Not a link: nothing to shorten.",
    },
    "web.no_photo": {
        "zh-CN": "请先选择或拍摄一张图片。",
        "en": "Choose or take a photo first.",
    },
    "web.too_many_photos": {
        "zh-CN": "一次最多识别 {count} 张图片。",
        "en": "At most {count} photos at once.",
    },
    "web.upload_too_large": {
        "zh-CN": "上传的图片太大（共 {mb} MB 以内），请压缩或少选几张。",
        "en": "The upload is too large ({mb} MB in all): send smaller or fewer photos.",
    },
    "web.url_missing": {
        "zh-CN": "请先粘贴一个网址。",
        "en": "Paste a link first.",
    },
    "web.rate_limited": {
        "zh-CN": "操作太频繁了，请 {seconds} 秒后再试。",
        "en": "Too many requests; try again in {seconds} s.",
    },
    "web.footer": {
        "zh-CN": "短链接会记录打开次数（区分真人、链接预览和机器人），不记录 IP 地址。",
        "en": (
            "Short links count their opens (people, link previews and bots apart); IP "
            "addresses are not stored."
        ),
    },
    "web.refused.title": {
        "zh-CN": "页面已过期",
        "en": "This page has expired",
    },
    "web.refused.text": {
        "zh-CN": "请刷新页面后再提交一次。",
        "en": "Reload the page and send the form again.",
    },
    "web.private.title": {
        "zh-CN": "这是私有服务",
        "en": "This service is private",
    },
    "web.private.text": {
        "zh-CN": "请使用运营者给你的访问链接，或在群里发送 /web 获取链接。",
        "en": "Use the address its operator gave you, or send /web in your group.",
    },
    "web.token.title": {
        "zh-CN": "网页链接无效或已过期",
        "en": "This web link is invalid or has expired",
    },
    "web.token.text": {
        "zh-CN": "请在群里发送 /web 或 /网页，获取新的链接。",
        "en": "Send /web in the group to get a new link.",
    },
    "web.everywhere": {
        "zh-CN": "所有平台",
        "en": "everywhere",
    },
    "web.off": {
        "zh-CN": "关",
        "en": "off",
    },
    # --- dashboard ---
    "dashboard.title": {
        "zh-CN": "群看板",
        "en": "Group dashboard",
    },
    "dashboard.period": {
        "zh-CN": "最近 {days} 天",
        "en": "Last {days} days",
    },
    "dashboard.switch": {
        "zh-CN": "{days} 天",
        "en": "{days} days",
    },
    "dashboard.span": {
        "zh-CN": "{start} – {end}",
        "en": "{start} – {end}",
    },
    "dashboard.updated": {
        "zh-CN": "更新于 {time}（{tz}）",
        "en": "updated {time} ({tz})",
    },
    "dashboard.links_shared": {
        "zh-CN": "分享链接",
        "en": "Links shared",
    },
    "dashboard.human": {
        "zh-CN": "真人打开",
        "en": "Human opens",
    },
    "dashboard.readers": {
        "zh-CN": "独立读者",
        "en": "Unique readers",
    },
    "dashboard.previews_bots": {
        "zh-CN": "预览与机器人",
        "en": "Previews & bots",
    },
    "dashboard.previews_bots_split": {
        "zh-CN": "预览 {previews} · 机器人 {bots}",
        "en": "{previews} {previews:plural:preview|previews} · {bots} {bots:plural:bot|bots}",
    },
    "dashboard.per_day": {
        "zh-CN": "每日真人打开",
        "en": "Human opens per day",
    },
    "dashboard.top_links": {
        "zh-CN": "热门链接",
        "en": "Top links",
    },
    "dashboard.col_link": {
        "zh-CN": "链接",
        "en": "Link",
    },
    "dashboard.col_sharer": {
        "zh-CN": "分享者",
        "en": "Shared by",
    },
    "dashboard.col_opens": {
        "zh-CN": "打开",
        "en": "Opens",
    },
    "dashboard.col_member": {
        "zh-CN": "成员",
        "en": "Member",
    },
    "dashboard.col_links": {
        "zh-CN": "链接数",
        "en": "Links",
    },
    "dashboard.top_sharers": {
        "zh-CN": "分享达人",
        "en": "Top sharers",
    },
    "dashboard.platforms": {
        "zh-CN": "打开平台",
        "en": "Where people opened them",
    },
    "dashboard.unknown": {
        "zh-CN": "未知",
        "en": "unknown",
    },
    "dashboard.nothing": {
        "zh-CN": "这段时间还没有人打开本群的链接。",
        "en": "Nobody opened this group's links in this period.",
    },
    "dashboard.note": {
        "zh-CN": "真人打开不含聊天应用的链接预览和机器人；独立读者按天去重后相加。",
        "en": (
            "Human opens leave out chat apps' link previews and bots; unique readers are counted "
            "per day and summed."
        ),
    },
    "dashboard.refused.title": {
        "zh-CN": "看板链接无效或已过期",
        "en": "This dashboard link is invalid or has expired",
    },
    "dashboard.refused.text": {
        "zh-CN": "请在群里发送 /dashboard 或 /看板，获取新的链接。",
        "en": "Send /dashboard in the group to get a new link.",
    },
}
_TEXTS: Mapping[str, Mapping[str, str]] = MappingProxyType({**_CATALOG, **_PAGE_TEXTS})
AREAS = ("message", "page", "web", "dashboard")


def catalog() -> Mapping[str, Mapping[str, str]]:
    """Every text by key and language, read-only (tests check both languages agree)."""
    return _TEXTS


class _PluralFormatter(string.Formatter):
    """str.format plus `{n:plural:one|other}`, which writes the word for the count `n`:
    "{bots} {bots:plural:bot|bots}" gives "1 bot" and "2 bots". Counts may arrive as
    already formatted numbers ("1,234")."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec.startswith("plural:"):
            one, _, other = format_spec.removeprefix("plural:").partition("|")
            return one if str(value).strip() == "1" else other
        return str(super().format_field(value, format_spec))


_FORMATTER = _PluralFormatter()


def translate(lang: str, key: str, **params: Any) -> str:
    """The text for `key` in `lang` (falling back to zh-CN), formatted with `params`."""
    entry = _TEXTS[key]
    template = entry.get(lang) or entry[DEFAULT_LANG]
    return fill(template, **params) if params else template


def fill(template: str, **params: Any) -> str:
    """`template` formatted with `params` (and `{n:plural:one|other}`): what templates apply
    to a text of `texts` that has slots, as `t.key | fill(name=value)`."""
    return _FORMATTER.format(template, **params)


@cache
def texts(lang: str, area: str) -> Mapping[str, str]:
    """The `common` texts and those of one page area in `lang`, by their short keys: what a
    page's template reads as `t.key`."""
    found: dict[str, str] = {}
    for prefix in ("common.", f"{area}."):
        for key, entry in _PAGE_TEXTS.items():
            if key.startswith(prefix):
                found[key.removeprefix(prefix)] = entry.get(lang) or entry[DEFAULT_LANG]
    return MappingProxyType(found)


def catalog_keys() -> frozenset[str]:
    return frozenset(_TEXTS)
