// The sync dashboard's entry; the page itself follows in the next commit.
document.body.append('Switchboard sync dashboard');
