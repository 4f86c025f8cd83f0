// A sign-in link carries its one-time secret in the URL fragment (/signin/link#lnk_...), which the
// browser never sends to the server, so no access log or proxy sees it. This copies it into the
// form, to be POSTed, and removes it from the address bar and the history.
(function () {
  var field = document.getElementById("link-token");
  var secret = decodeURIComponent(window.location.hash.replace(/^#/, ""));
  if (!field || !secret) return;
  field.value = secret;
  history.replaceState(null, "", window.location.pathname);
  var label = document.getElementById("link-code");
  if (label) label.style.display = "none";
})();
