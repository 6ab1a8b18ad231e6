// The console's only script of its own (htmx does the live parts).
// The demo's sign-in link carries the key in the address's fragment (#key=…), which no server
// and no access log ever sees: it is moved into the form, wiped from the address, and sent.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login-form");
  const match = /^#key=([^&]+)$/.exec(window.location.hash);
  if (form && match) {
    history.replaceState(null, "", window.location.pathname + window.location.search);
    form.querySelector("#api_key").value = decodeURIComponent(match[1]);
    form.submit();
  }
  // A select marked data-autosubmit sends its form when changed (filters).
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
